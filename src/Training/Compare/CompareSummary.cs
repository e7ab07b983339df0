using System.Text.Json;

using MoeServe.Training.Trainer;

namespace MoeServe.Training.Compare;

/// <summary>One method's line in the compare summary.json: the figures of its run's <see cref="TrainingSummary"/> that the methods are compared by.</summary>
/// <param name="ValidationPerplexity">exp(validation loss).</param>
/// <param name="AvgMaxVio">Mean over steps of MaxVio_batch (layer-averaged).</param>
/// <param name="SupMaxVio">Max over steps of MaxVio_batch (layer-averaged).</param>
/// <param name="MaxVioGlobal">MaxVio over the validation set (layer-averaged).</param>
/// <param name="WallSeconds">Training wall time.</param>
/// <param name="TokensPerSecond">Training tokens per second.</param>
/// <param name="BalancingSeconds">Time inside router calls.</param>
public sealed record CompareMethodSummary(double ValidationPerplexity, double AvgMaxVio, double SupMaxVio, double MaxVioGlobal, double WallSeconds, double TokensPerSecond, double BalancingSeconds)
{
    /// <summary>From a run's summary.</summary>
    /// <param name="run">The run summary.</param>
    public static CompareMethodSummary From(TrainingSummary run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return new(run.ValidationPerplexity, run.AvgMaxVio, run.SupMaxVio, run.MaxVioGlobal, run.WallSeconds, run.TokensPerSecond, run.BalancingSeconds);
    }
}

/// <summary>compare's summary.json: {"preset", "steps", "methods": {name: {...}}}.</summary>
public sealed record CompareSummary
{
    /// <summary>The preset.</summary>
    public required string Preset { get; init; }

    /// <summary>Steps per method.</summary>
    public required long Steps { get; init; }

    /// <summary>Per method ("none", "aux", "lossfree", "bip").</summary>
    public required IReadOnlyDictionary<string, CompareMethodSummary> Methods { get; init; }

    /// <summary>Indented camelCase JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, TrainingJson.Options);
}
