using MoeServe.Runtime;

namespace MoeServe.Server.Engine;

/// <summary>
/// The balancing vector q a layer's routing starts from, for the moeserve_router_bias gauges: zeros under
/// plain top-K, otherwise the trained q from the model's manifest. (Under online BIP the runtime refines
/// q per step internally; the gauge shows the trained starting point.)
/// </summary>
public static class RouterBiasReader
{
    /// <summary>The q of <paramref name="layer"/> (length = experts); empty when the manifest has none.</summary>
    public static ReadOnlySpan<float> Read(MoeEngine engine, int layer)
    {
        ArgumentNullException.ThrowIfNull(engine);
        if (engine.Options.Routing == RoutingPolicyKind.TopK)
        {
            return new float[engine.Config.Experts];
        }

        var q = engine.Manifest.Routing.Q;
        return layer < q.Count ? q[layer] : [];
    }
}
