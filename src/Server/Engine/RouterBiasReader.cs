using System.Runtime.CompilerServices;
using MoeServe.Runtime;

namespace MoeServe.Server.Engine;

/// <summary>
/// The balancing vector q a layer's routing uses, for the moeserve_router_bias gauges: zeros under plain
/// top-K, otherwise the trained q the model was exported with.
/// </summary>
public static class RouterBiasReader
{
    private static readonly ConditionalWeakTable<MoeEngine, float[][]> Cache = [];

    /// <summary>The q of <paramref name="layer"/> (length = experts).</summary>
    public static ReadOnlySpan<float> Read(MoeEngine engine, int layer)
    {
        ArgumentNullException.ThrowIfNull(engine);
        var all = Cache.GetValue(engine, Load);
        return layer < all.Length ? all[layer] : [];
    }

    private static float[][] Load(MoeEngine engine)
    {
        var layers = engine.Config.Layers;
        var experts = engine.Config.Experts;
        var result = new float[layers][];
        for (var l = 0; l < layers; l++)
        {
            result[l] = new float[experts];
        }

        if (engine.Options.Routing == RoutingPolicyKind.TopK)
        {
            return result;
        }

        // The exported model keeps the trained q per layer (docs/contracts.md, balancing.json).
        var path = Path.Combine(engine.ModelDirectory, MoeServe.Router.BalancingState.FileName);
        if (File.Exists(path))
        {
            var state = MoeServe.Router.BalancingState.Load(path);
            for (var l = 0; l < layers && l < state.LayerCount; l++)
            {
                state.Layer(l).AsSpan(0, Math.Min(experts, state.Layer(l).Length)).CopyTo(result[l]);
            }
        }

        return result;
    }
}
