namespace MoeServe.Router;

/// <summary>
/// Top-K by s - q with a FIXED q (a trained BIP q, or a loss-free bias b stored as q = -b); gates from
/// the unbiased s. This is how a trained balancing state is applied at serving: a token's routing
/// does not depend on its batch-mates. Copies q at construction, so it is immutable and thread-safe.
/// </summary>
public sealed class BiasedTopKPolicy : IRoutingPolicy
{
    private readonly float[] _q;
    private readonly GateSettings _settings;

    /// <summary>Creates the policy with a copy of <paramref name="q"/>.</summary>
    /// <param name="q">The per-expert offset subtracted from s for selection, length m.</param>
    /// <param name="renormalize">Divide the k gates of a token by their sum.</param>
    /// <param name="capacityFactor">Optional hard capacity factor (&gt;= 1); null for none.</param>
    public BiasedTopKPolicy(ReadOnlySpan<float> q, bool renormalize = true, double? capacityFactor = null)
    {
        RoutingGuards.ThrowIfNoExperts(q);
        foreach (float v in q)
        {
            if (!float.IsFinite(v))
            {
                throw new ArgumentException("q must be finite.", nameof(q));
            }
        }

        _q = q.ToArray();
        _settings = GateSettings.Create(renormalize, capacityFactor);
    }

    /// <inheritdoc />
    public string Name => "biased-topk";

    /// <inheritdoc />
    public bool IsThreadSafe => true;

    /// <summary>The fixed offset q (a copy owned by this policy).</summary>
    public ReadOnlySpan<float> Q => _q;

    /// <inheritdoc />
    public void Route(ReadOnlySpan<float> scores, RoutingShape shape, Span<int> experts, Span<float> gates)
    {
        RowRouter.RouteChecked(scores, _q, shape, _settings, experts, gates);
    }
}

/// <summary>Shared argument checks.</summary>
internal static class RoutingGuards
{
    /// <summary>A policy's per-expert state q must name at least one expert.</summary>
    public static void ThrowIfNoExperts(ReadOnlySpan<float> q)
    {
        if (q.IsEmpty)
        {
            throw new ArgumentException("q must have one entry per expert.", nameof(q));
        }
    }

    /// <summary>A balancer's live q (updated in place) must exist and name at least one expert.</summary>
    public static void ThrowIfNullOrNoExperts(float[] q)
    {
        ArgumentNullException.ThrowIfNull(q);
        ThrowIfNoExperts(q);
    }

    public static void ThrowIfStateMismatch(int stateLength, RoutingShape shape)
    {
        if (stateLength != shape.Experts)
        {
            throw new ArgumentException($"The policy's q has {stateLength} entries but the batch has {shape.Experts} experts.", nameof(shape));
        }
    }
}
