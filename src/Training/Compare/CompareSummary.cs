using System.Text.Json;

using MoeServe.Training.Trainer;

namespace MoeServe.Training.Compare;

/// <summary>One method's line in the compare summary.json.</summary>
public sealed record CompareMethodSummary
{
    /// <summary>exp(validation loss).</summary>
    public required double ValidationPerplexity { get; init; }

    /// <summary>Mean over steps of MaxVio_batch (layer-averaged).</summary>
    public required double AvgMaxVio { get; init; }

    /// <summary>Max over steps of MaxVio_batch (layer-averaged).</summary>
    public required double SupMaxVio { get; init; }

    /// <summary>MaxVio over the validation set (layer-averaged).</summary>
    public required double MaxVioGlobal { get; init; }

    /// <summary>Training wall time.</summary>
    public required double WallSeconds { get; init; }

    /// <summary>Training tokens per second.</summary>
    public required double TokensPerSecond { get; init; }

    /// <summary>Time inside router calls.</summary>
    public required double BalancingSeconds { get; init; }

    /// <summary>From a run's summary.</summary>
    /// <param name="run">The run summary.</param>
    public static CompareMethodSummary From(TrainingSummary run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return new CompareMethodSummary
        {
            ValidationPerplexity = run.ValidationPerplexity,
            AvgMaxVio = run.AvgMaxVio,
            SupMaxVio = run.SupMaxVio,
            MaxVioGlobal = run.MaxVioGlobal,
            WallSeconds = run.WallSeconds,
            TokensPerSecond = run.TokensPerSecond,
            BalancingSeconds = run.BalancingSeconds,
        };
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
