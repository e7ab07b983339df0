namespace MoeServe.Router;

/// <summary>
/// The MaxVio_batch that a perfectly balanced router still shows on batches of n tokens: each token's k
/// experts drawn uniformly at random without replacement from m, so every expert's expected load is
/// exactly n k / m and only sampling noise remains. A router whose choice depends only on the token
/// (frozen q) cannot beat this on average; per-batch balancing (online BIP) can. Monte Carlo with an
/// injected <see cref="Random"/>, so a seed gives the same floor every time.
/// </summary>
public static class BalancedNoiseFloor
{
    /// <summary>Default Monte Carlo trials.</summary>
    public const int DefaultTrials = 2000;

    /// <summary>Mean MaxVio_batch over <paramref name="trials"/> random batches of the shape.</summary>
    /// <param name="shape">n tokens, m experts, k per token.</param>
    /// <param name="random">The randomness (seeded by the caller).</param>
    /// <param name="trials">Batches to draw (at least 1).</param>
    public static double MeanMaxVio(RoutingShape shape, Random random, int trials = DefaultTrials)
    {
        ArgumentNullException.ThrowIfNull(random);
        ArgumentOutOfRangeException.ThrowIfLessThan(trials, 1);
        if (shape.Tokens < 1 || shape.Experts < 1 || shape.TopK < 1 || shape.TopK > shape.Experts)
        {
            throw new ArgumentOutOfRangeException(nameof(shape), $"need n >= 1 and 1 <= k <= m, got n {shape.Tokens}, m {shape.Experts}, k {shape.TopK}.");
        }

        int m = shape.Experts;
        int k = shape.TopK;
        Span<int> loads = m <= 512 ? stackalloc int[m] : new int[m];
        Span<int> pool = m <= 512 ? stackalloc int[m] : new int[m];
        double sum = 0;
        for (int t = 0; t < trials; t++)
        {
            loads.Clear();
            for (int i = 0; i < shape.Tokens; i++)
            {
                // k distinct experts: a partial Fisher-Yates shuffle of 0..m-1.
                for (int j = 0; j < m; j++)
                {
                    pool[j] = j;
                }

                for (int j = 0; j < k; j++)
                {
                    int pick = j + random.Next(m - j);
                    (pool[j], pool[pick]) = (pool[pick], pool[j]);
                    loads[pool[j]]++;
                }
            }

            sum += LoadStatistics.MaxViolation(loads);
        }

        return sum / trials;
    }
}
