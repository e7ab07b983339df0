namespace MoeServe.Router;

/// <summary>
/// Tracks load balance over many batches of one layer: MaxVio of the last batch, AvgMaxVio (mean of
/// per-batch MaxVio), SupMaxVio (max), and the global MaxVio of the summed loads. Not thread-safe.
/// </summary>
public sealed class MaxVioTracker
{
    private readonly long[] _totals;
    private readonly int[] _batchLoads;
    private double _sum;

    /// <summary>Creates a tracker for a layer with <paramref name="experts"/> experts.</summary>
    /// <param name="experts">m.</param>
    public MaxVioTracker(int experts)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(experts, 1);
        _totals = new long[experts];
        _batchLoads = new int[experts];
    }

    /// <summary>Batches recorded.</summary>
    public int Batches { get; private set; }

    /// <summary>MaxVio of the most recent batch.</summary>
    public double Last { get; private set; }

    /// <summary>Mean of per-batch MaxVio (AvgMaxVio); 0 before any batch.</summary>
    public double Average => Batches == 0 ? 0 : _sum / Batches;

    /// <summary>Maximum of per-batch MaxVio (SupMaxVio); 0 before any batch.</summary>
    public double Supremum { get; private set; }

    /// <summary>MaxVio of the loads summed over every recorded batch (running / global MaxVio).</summary>
    public double Global => LoadStatistics.MaxViolation(_totals);

    /// <summary>Loads summed over every recorded batch.</summary>
    public ReadOnlySpan<long> TotalLoads => _totals;

    /// <summary>Records one batch from its per-expert loads; returns its MaxVio.</summary>
    /// <param name="loads">Tokens per expert, length m.</param>
    public double RecordLoads(ReadOnlySpan<int> loads)
    {
        if (loads.Length != _totals.Length)
        {
            throw new ArgumentException($"loads has {loads.Length} entries, the tracker {_totals.Length}.", nameof(loads));
        }

        for (int j = 0; j < loads.Length; j++)
        {
            _totals[j] += loads[j];
        }

        double vio = LoadStatistics.MaxViolation(loads);
        Last = vio;
        Supremum = Batches == 0 ? vio : Math.Max(Supremum, vio);
        _sum += vio;
        Batches++;
        return vio;
    }

    /// <summary>Records one batch from a policy's token-major expert output; returns its MaxVio.</summary>
    /// <param name="experts">Chosen experts, token-major [n * k].</param>
    public double RecordBatch(ReadOnlySpan<int> experts)
    {
        LoadStatistics.CountLoads(experts, _batchLoads);
        return RecordLoads(_batchLoads);
    }

    /// <summary>Forgets everything recorded.</summary>
    public void Reset()
    {
        Array.Clear(_totals);
        _sum = 0;
        Last = 0;
        Supremum = 0;
        Batches = 0;
    }
}
