using System.Buffers;

namespace MoeServe.Router;

/// <summary>
/// The routing step every policy shares: TopK(s - q) per token, optional hard capacity, gates from s.
/// Stateless; scratch comes from the stack or the shared array pool.
/// </summary>
internal static class RowRouter
{
    private const int StackLimit = 256;

    /// <summary>
    /// Routes every token by TopK(s - q). When <paramref name="nextKeys"/> is not empty it receives,
    /// per token, the (k+1)-th largest key (0 when k == m): the BIP token dual before clipping.
    /// </summary>
    public static void SelectAll(ReadOnlySpan<float> scores, ReadOnlySpan<float> q, RoutingShape shape, Span<int> experts, Span<float> nextKeys)
    {
        int m = shape.Experts;
        int k = shape.TopK;
        bool wantNext = !nextKeys.IsEmpty && k < m;
        int r = wantNext ? k + 1 : k;

        float[]? rentedKeys = null;
        int[]? rentedIdx = null;
        Span<float> bestKeys = r <= StackLimit ? stackalloc float[r] : (rentedKeys = ArrayPool<float>.Shared.Rent(r)).AsSpan(0, r);
        Span<int> bestIdx = r <= StackLimit ? stackalloc int[r] : (rentedIdx = ArrayPool<int>.Shared.Rent(r)).AsSpan(0, r);
        try
        {
            for (int i = 0; i < shape.Tokens; i++)
            {
                TopKSelector.SelectRow(scores.Slice(i * m, m), q, r, bestKeys, bestIdx);
                bestIdx[..k].CopyTo(experts.Slice(i * k, k));
                if (!nextKeys.IsEmpty)
                {
                    nextKeys[i] = wantNext ? bestKeys[k] : 0f;
                }
            }
        }
        finally
        {
            if (rentedKeys is not null)
            {
                ArrayPool<float>.Shared.Return(rentedKeys);
            }

            if (rentedIdx is not null)
            {
                ArrayPool<int>.Shared.Return(rentedIdx);
            }
        }
    }

    /// <summary>
    /// The routing step of a policy with a per-expert state q: the batch's spans are checked against the shape and
    /// q against its experts first, so every such policy refuses a mismatched batch the same way.
    /// </summary>
    public static void RouteChecked(ReadOnlySpan<float> scores, ReadOnlySpan<float> q, RoutingShape shape, in GateSettings settings, Span<int> experts, Span<float> gates)
    {
        shape.Validate(scores.Length, experts.Length, gates.Length);
        RoutingGuards.ThrowIfStateMismatch(q.Length, shape);
        Route(scores, q, shape, settings, experts, gates);
    }

    /// <summary>Full routing step: selection, optional capacity, gates.</summary>
    public static void Route(ReadOnlySpan<float> scores, ReadOnlySpan<float> q, RoutingShape shape, in GateSettings settings, Span<int> experts, Span<float> gates, Span<float> nextKeys = default)
    {
        SelectAll(scores, q, shape, experts, nextKeys);
        if (settings.CapacityFactor is double factor)
        {
            CapacityEnforcer.Enforce(scores, q, shape, shape.CapacityFor(factor), experts);
        }

        GateWeights.Fill(scores, shape, experts, gates, settings.Renormalize);
    }
}

/// <summary>The gate-side settings every policy carries.</summary>
/// <param name="Renormalize">Divide the k gates of a token by their sum.</param>
/// <param name="CapacityFactor">Hard capacity factor, or null for none.</param>
internal readonly record struct GateSettings(bool Renormalize, double? CapacityFactor)
{
    public static GateSettings Create(bool renormalize, double? capacityFactor)
    {
        if (capacityFactor is double f && (!double.IsFinite(f) || f < 1.0))
        {
            throw new ArgumentOutOfRangeException(nameof(capacityFactor), capacityFactor, "capacityFactor must be a finite number >= 1 (or null for no capacity).");
        }

        return new GateSettings(renormalize, capacityFactor);
    }
}
