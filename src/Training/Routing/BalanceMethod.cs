namespace MoeServe.Training.Routing;

/// <summary>The load-balancing method of a training run (flag --balance).</summary>
public enum BalanceMethod
{
    /// <summary>Plain top-K, no balancing.</summary>
    None,

    /// <summary>Loss-Controlled: plain top-K plus the sequence-level auxiliary loss.</summary>
    Aux,

    /// <summary>Loss-free: a bias b updated by sign of the load error (router library).</summary>
    LossFree,

    /// <summary>The BIP balancer (router library), q kept per layer.</summary>
    Bip,
}

/// <summary>Names of <see cref="BalanceMethod"/> as flags and file keys use them.</summary>
public static class BalanceMethodNames
{
    /// <summary>Every method in the order compare runs and reports them.</summary>
    public static IReadOnlyList<BalanceMethod> All { get; } = [BalanceMethod.None, BalanceMethod.Aux, BalanceMethod.LossFree, BalanceMethod.Bip];

    /// <summary>"none", "aux", "lossfree" or "bip".</summary>
    /// <param name="method">The method.</param>
    public static string ToName(this BalanceMethod method) => method switch
    {
        BalanceMethod.None => "none",
        BalanceMethod.Aux => "aux",
        BalanceMethod.LossFree => "lossfree",
        BalanceMethod.Bip => "bip",
        _ => throw new ArgumentOutOfRangeException(nameof(method), method, null),
    };

    /// <summary>Parses a method name (case-insensitive); false when unknown.</summary>
    /// <param name="name">The name.</param>
    /// <param name="method">The method.</param>
    public static bool TryParse(string? name, out BalanceMethod method)
    {
        foreach (var candidate in All)
        {
            if (string.Equals(candidate.ToName(), name?.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                method = candidate;
                return true;
            }
        }

        method = BalanceMethod.None;
        return false;
    }
}
