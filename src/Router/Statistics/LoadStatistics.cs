using System.Buffers;
using System.Numerics;

namespace MoeServe.Router;

/// <summary>Per-batch load metrics. Stateless and thread-safe.</summary>
public static class LoadStatistics
{
    /// <summary>Counts tokens per expert. <paramref name="loads"/> (length m) is cleared first.</summary>
    /// <param name="experts">Chosen experts, token-major [n * k].</param>
    /// <param name="loads">Output: tokens per expert.</param>
    public static void CountLoads(ReadOnlySpan<int> experts, Span<int> loads)
    {
        loads.Clear();
        foreach (int e in experts)
        {
            if ((uint)e >= (uint)loads.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(experts), e, $"Expert index must be in [0, {loads.Length}).");
            }

            loads[e]++;
        }
    }

    /// <summary>MaxVio = (max load - mean load) / mean load, the mean being total / m. 0 for an empty batch.</summary>
    /// <param name="loads">Tokens per expert.</param>
    public static double MaxViolation(ReadOnlySpan<int> loads) => MaxViolationOf(loads);

    /// <summary>MaxVio over accumulated (long) loads, for global MaxVio across many batches.</summary>
    /// <param name="loads">Tokens per expert summed over batches.</param>
    public static double MaxViolation(ReadOnlySpan<long> loads) => MaxViolationOf(loads);

    private static double MaxViolationOf<T>(ReadOnlySpan<T> loads)
        where T : struct, IBinaryInteger<T>
    {
        if (loads.IsEmpty)
        {
            return 0;
        }

        long total = 0;
        T max = loads[0];
        foreach (T l in loads)
        {
            total += long.CreateTruncating(l);
            max = T.Max(max, l);
        }

        if (total == 0)
        {
            return 0;
        }

        double mean = (double)total / loads.Length;
        return (double.CreateTruncating(max) - mean) / mean;
    }

    /// <summary>MaxVio of a routed batch (counts its loads with pooled scratch).</summary>
    /// <param name="experts">Chosen experts, token-major [n * k].</param>
    /// <param name="shape">n, m, k of the batch.</param>
    public static double MaxViolation(ReadOnlySpan<int> experts, RoutingShape shape)
    {
        int[] rented = ArrayPool<int>.Shared.Rent(shape.Experts);
        try
        {
            Span<int> loads = rented.AsSpan(0, shape.Experts);
            CountLoads(experts, loads);
            return MaxViolation(loads);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Score retention: the sum of s over the chosen experts divided by the sum of s over each
    /// token's plain top-K (1 for plain top-K, below 1 when balancing trades score for balance).
    /// </summary>
    /// <param name="scores">Router scores, row-major [n, m].</param>
    /// <param name="shape">n, m, k of the batch.</param>
    /// <param name="experts">Chosen experts, token-major [n * k].</param>
    public static double ScoreRetention(ReadOnlySpan<float> scores, RoutingShape shape, ReadOnlySpan<int> experts)
    {
        shape.Validate(scores.Length, experts.Length, experts.Length);
        int m = shape.Experts;
        int k = shape.TopK;
        Span<float> keys = k <= 256 ? stackalloc float[k] : new float[k];
        Span<int> idx = k <= 256 ? stackalloc int[k] : new int[k];
        double chosen = 0;
        double best = 0;
        for (int i = 0; i < shape.Tokens; i++)
        {
            ReadOnlySpan<float> row = scores.Slice(i * m, m);
            TopKSelector.SelectRow(row, ReadOnlySpan<float>.Empty, k, keys, idx);
            for (int t = 0; t < k; t++)
            {
                best += keys[t];
                chosen += row[experts[(i * k) + t]];
            }
        }

        return best > 0 ? chosen / best : 1.0;
    }
}
