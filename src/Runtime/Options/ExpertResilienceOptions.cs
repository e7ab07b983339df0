using System.Globalization;

namespace MoeServe.Runtime;

/// <summary>
/// The per-device circuit breaker around expert Runs (Polly.Core). A failed Run, or any Run while the
/// device's breaker is open, is re-run on a CPU session so the step is not lost.
/// </summary>
public sealed record ExpertResilienceOptions
{
    /// <summary>Whether expert Runs go through the breaker and CPU re-run at all. Default true.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Failure ratio within <see cref="SamplingDuration"/> that opens the breaker. Default 0.5.</summary>
    public double FailureRatio { get; init; } = 0.5;

    /// <summary>Runs within the sampling window before the ratio counts. Default 4.</summary>
    public int MinimumThroughput { get; init; } = 4;

    /// <summary>Window over which failures are counted. Default 10 s.</summary>
    public TimeSpan SamplingDuration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long an open breaker sends that device's Runs straight to CPU before trying the device again. Default 30 s.</summary>
    public TimeSpan BreakDuration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Every problem, each naming its field.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!(FailureRatio > 0 && FailureRatio <= 1))
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"resilience.failureRatio must be in (0, 1], got {FailureRatio}."));
        }

        if (MinimumThroughput < 2)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"resilience.minimumThroughput must be >= 2 (Polly's minimum), got {MinimumThroughput}."));
        }

        if (SamplingDuration < TimeSpan.FromMilliseconds(500))
        {
            errors.Add($"resilience.samplingDuration must be >= 0.5 s (Polly's minimum), got {SamplingDuration}.");
        }

        if (BreakDuration < TimeSpan.FromMilliseconds(500))
        {
            errors.Add($"resilience.breakDuration must be >= 0.5 s (Polly's minimum), got {BreakDuration}.");
        }

        return errors;
    }
}
