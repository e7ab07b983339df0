namespace MoeServe.Router;

/// <summary>Builds the routing policy of one layer from options and the model's balancing state.</summary>
public static class RoutingPolicyFactory
{
    /// <summary>
    /// Creates the policy for <paramref name="layer"/>. BIP and loss-free policies update
    /// <c>state.Layer(layer)</c> in place (so saving the state saves their progress); biased top-K
    /// copies it (frozen, thread-safe). Plain top-K ignores the state.
    /// </summary>
    /// <param name="options">Validated options (every error is reported at once).</param>
    /// <param name="state">The balancing state; required for every method except plain top-K.</param>
    /// <param name="layer">Layer index into <paramref name="state"/>.</param>
    public static IRoutingPolicy Create(RouterOptions options, BalancingState? state, int layer)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        if (options.Method == RoutingMethod.TopK)
        {
            return new TopKPolicy(options.Renormalize, options.CapacityFactor);
        }

        if (state is null)
        {
            throw new ArgumentNullException(nameof(state), $"Routing method {options.Method} needs a balancing state.");
        }

        float[] q = state.Layer(layer);
        return options.Method switch
        {
            RoutingMethod.BiasedTopK => new BiasedTopKPolicy(q, options.Renormalize, options.CapacityFactor),
            RoutingMethod.Bip => new BipBalancer(q, options.Bip, options.Renormalize, options.CapacityFactor),
            RoutingMethod.LossFree => new LossFreeBalancer(q, options.LossFree, options.Renormalize, options.CapacityFactor),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Method, "Unknown routing method."),
        };
    }

    /// <summary>Parses a method name: "topk", "biased-topk", "bip" or "lossfree" (case-insensitive).</summary>
    /// <param name="name">The name.</param>
    /// <param name="method">The parsed method.</param>
    /// <returns>False when the name is unknown.</returns>
    public static bool TryParseMethod(string? name, out RoutingMethod method)
    {
        switch (name?.Trim().ToUpperInvariant())
        {
            case "TOPK":
            case "NONE":
                method = RoutingMethod.TopK;
                return true;
            case "BIASED-TOPK":
            case "BIASEDTOPK":
                method = RoutingMethod.BiasedTopK;
                return true;
            case "BIP":
                method = RoutingMethod.Bip;
                return true;
            case "LOSSFREE":
            case "LOSS-FREE":
                method = RoutingMethod.LossFree;
                return true;
            default:
                method = RoutingMethod.TopK;
                return false;
        }
    }
}
