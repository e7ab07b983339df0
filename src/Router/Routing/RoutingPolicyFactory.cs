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

    /// <summary>
    /// Every routing method name the project accepts, on every surface (CLI flags, server
    /// configuration, simulate), each with the method it names. The first name of a method is its
    /// canonical one: the serving names users type (<c>trained</c>, <c>online-bip</c>, <c>topk</c>).
    /// </summary>
    public static IReadOnlyList<(string Name, RoutingMethod Method)> Names { get; } =
    [
        ("topk", RoutingMethod.TopK),
        ("top-k", RoutingMethod.TopK),
        ("none", RoutingMethod.TopK),
        ("trained", RoutingMethod.BiasedTopK),
        ("biased-topk", RoutingMethod.BiasedTopK),
        ("online-bip", RoutingMethod.Bip),
        ("onlinebip", RoutingMethod.Bip),
        ("bip", RoutingMethod.Bip),
        ("lossfree", RoutingMethod.LossFree),
        ("loss-free", RoutingMethod.LossFree),
    ];

    /// <summary>
    /// The methods a serving engine routes with (the runtime, <c>--routing</c> and the server's
    /// RoutingPolicy): <c>trained</c> (biased top-K with the model's frozen q), <c>online-bip</c>
    /// and <c>topk</c>. The first is the default.
    /// </summary>
    public static IReadOnlyList<RoutingMethod> ServingMethods { get; } = [RoutingMethod.BiasedTopK, RoutingMethod.Bip, RoutingMethod.TopK];

    /// <summary>Parses a name from <see cref="Names"/> that names one of <see cref="ServingMethods"/>.</summary>
    /// <param name="name">The name.</param>
    /// <param name="method">The parsed method.</param>
    /// <returns>False when the name is unknown or names a method serving does not use.</returns>
    public static bool TryParseServingMethod(string? name, out RoutingMethod method) =>
        TryParseMethod(name, out method) && ServingMethods.Contains(method);

    /// <summary>Parses a method name from <see cref="Names"/> (case-insensitive, surrounding space ignored).</summary>
    /// <param name="name">The name.</param>
    /// <param name="method">The parsed method.</param>
    /// <returns>False when the name is unknown.</returns>
    public static bool TryParseMethod(string? name, out RoutingMethod method)
    {
        var trimmed = name?.Trim();
        foreach (var (known, value) in Names)
        {
            if (string.Equals(known, trimmed, StringComparison.OrdinalIgnoreCase))
            {
                method = value;
                return true;
            }
        }

        method = RoutingMethod.TopK;
        return false;
    }

    /// <summary>The canonical name of <paramref name="method"/> (its first entry in <see cref="Names"/>).</summary>
    public static string NameOf(RoutingMethod method)
    {
        foreach (var (known, value) in Names)
        {
            if (value == method)
            {
                return known;
            }
        }

        throw new ArgumentOutOfRangeException(nameof(method), method, "Unknown routing method.");
    }

    /// <summary>"'x' is not one of ..." naming the canonical names of <paramref name="allowed"/> (the same words on every surface).</summary>
    public static string UnknownNameMessage(string? name, IEnumerable<RoutingMethod> allowed) =>
        $"'{name}' is not one of {string.Join(", ", allowed.Select(NameOf))}.";
}
