namespace MoeServe.Router;

/// <summary>Which BIP duals are clipped at 0 (the inequality constraints of the integer program).</summary>
public enum BipClip
{
    /// <summary>Clip both p (tokens) and q (experts) at 0: the literal BIP dual.</summary>
    Both,

    /// <summary>Clip only the token dual p.</summary>
    Tokens,

    /// <summary>Clip only the expert dual q (tokens always take exactly k experts).</summary>
    Experts,

    /// <summary>Clip neither: quantile balancing (equality constraints).</summary>
    None,
}

/// <summary>When the dual update runs relative to routing the batch.</summary>
public enum BipOrder
{
    /// <summary>Update q with the current batch, then route it (the paper as read by others).</summary>
    UpdateThenRoute,

    /// <summary>Route with the previous q, then update q (causal).</summary>
    RouteThenUpdate,
}

/// <summary>How the (k+1)-th / (c+1)-th largest values are taken.</summary>
public enum OrderStatisticMode
{
    /// <summary>Exact order statistic by selection (no sort).</summary>
    Exact,

    /// <summary>Linearly interpolated quantile at level 1 - k/m.</summary>
    Quantile,
}

/// <summary>Options of the BIP balancer. Defaults are documented in docs/balancing.md.</summary>
public sealed record BipOptions
{
    /// <summary>Default number of dual iterations per batch.</summary>
    public const int DefaultIterations = 4;

    /// <summary>T, dual iterations per batch (1..64).</summary>
    public int Iterations { get; init; } = DefaultIterations;

    /// <summary>Which duals are clipped at 0.</summary>
    public BipClip Clip { get; init; } = BipClip.Experts;

    /// <summary>Update-then-route or route-then-update.</summary>
    public BipOrder Order { get; init; } = BipOrder.UpdateThenRoute;

    /// <summary>Exact order statistics or interpolated quantiles.</summary>
    public OrderStatisticMode Statistic { get; init; } = OrderStatisticMode.Quantile;

    /// <summary>Keep q across batches (true) or reset it to 0 at every batch (false, "cold").</summary>
    public bool WarmStart { get; init; } = true;

    /// <summary>
    /// Batches with fewer tokens than this are routed by TopK(s - q) with q left as it is (0 = every
    /// batch updates q). A handful of tokens says little about the experts' loads: on a decode step of
    /// a few sequences the quantile q-step returns 0 for most experts and would wipe a trained q.
    /// </summary>
    public int MinTokensPerUpdate { get; init; }

    /// <summary>Every problem with these options (empty when valid).</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Iterations is < 1 or > 64)
        {
            errors.Add($"bip.iterations must be in 1..64 (got {Iterations}).");
        }

        if (MinTokensPerUpdate < 0)
        {
            errors.Add($"bip.minTokensPerUpdate must be >= 0 (got {MinTokensPerUpdate}).");
        }

        if (!Enum.IsDefined(Clip))
        {
            errors.Add($"bip.clip has unknown value {Clip}.");
        }

        if (!Enum.IsDefined(Order))
        {
            errors.Add($"bip.order has unknown value {Order}.");
        }

        if (!Enum.IsDefined(Statistic))
        {
            errors.Add($"bip.statistic has unknown value {Statistic}.");
        }

        return errors;
    }
}

/// <summary>Options of the loss-free balancer (Wang et al., arXiv 2408.15664).</summary>
public sealed record LossFreeOptions
{
    /// <summary>Default bias update rate u.</summary>
    public const float DefaultUpdateRate = 0.001f;

    /// <summary>u: after each batch b[j] += u * sign(mean load - load[j]).</summary>
    public float UpdateRate { get; init; } = DefaultUpdateRate;

    /// <summary>Every problem with these options (empty when valid).</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!float.IsFinite(UpdateRate) || UpdateRate <= 0f)
        {
            errors.Add($"lossFree.updateRate must be a finite number > 0 (got {UpdateRate}).");
        }

        return errors;
    }
}
