namespace MoeServe.Benchmarks;

/// <summary>What the probes report of their interleaved rounds.</summary>
internal static class ProbeStatistics
{
    /// <summary>The median of the rounds (the mean of the middle two of an even count).</summary>
    public static double Median(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
