using MoeServe.Runtime;

namespace MoeServe.Server.Engine;

/// <summary>
/// The balancing vector q each layer routes with right now, for the moeserve_router_bias gauges: the
/// trained q, the live q online BIP refines every step, or zeros under plain top-K.
/// </summary>
public sealed class RouterBiasReader
{
    private readonly float[] _scratch;

    /// <summary>Creates a reader with scratch for <paramref name="experts"/> values.</summary>
    public RouterBiasReader(int experts) => _scratch = new float[experts];

    /// <summary>The q of <paramref name="layer"/>; valid until the next call.</summary>
    public ReadOnlySpan<float> Read(MoeEngine engine, int layer)
    {
        ArgumentNullException.ThrowIfNull(engine);
        engine.CopyRoutingBias(layer, _scratch);
        return _scratch;
    }
}
