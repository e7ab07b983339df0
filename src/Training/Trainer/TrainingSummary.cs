using System.Text.Json;

namespace MoeServe.Training.Trainer;

/// <summary>summary.json of a training run (camelCase).</summary>
public sealed record TrainingSummary
{
    /// <summary>Balancing method name.</summary>
    public required string Method { get; init; }

    /// <summary>Preset name.</summary>
    public required string Preset { get; init; }

    /// <summary>Steps completed.</summary>
    public required long Steps { get; init; }

    /// <summary>Training tokens processed.</summary>
    public required long Tokens { get; init; }

    /// <summary>Model parameters.</summary>
    public required long Parameters { get; init; }

    /// <summary>Mean training loss over the last logged window.</summary>
    public required double FinalTrainLoss { get; init; }

    /// <summary>Validation cross-entropy per token.</summary>
    public required double ValidationLoss { get; init; }

    /// <summary>exp(validation loss).</summary>
    public required double ValidationPerplexity { get; init; }

    /// <summary>Validation tokens evaluated.</summary>
    public required long ValidationTokens { get; init; }

    /// <summary>MaxVio over the validation set (frozen routing), mean over layers.</summary>
    public required double MaxVioGlobal { get; init; }

    /// <summary>MaxVio_global per layer.</summary>
    public required IReadOnlyList<double> MaxVioGlobalPerLayer { get; init; }

    /// <summary>Mean over steps of MaxVio_batch (layer-averaged).</summary>
    public required double AvgMaxVio { get; init; }

    /// <summary>Max over steps of MaxVio_batch (layer-averaged).</summary>
    public required double SupMaxVio { get; init; }

    /// <summary>Mean over steps of MaxVio_batch, per layer.</summary>
    public required IReadOnlyList<double> AvgMaxVioPerLayer { get; init; }

    /// <summary>Max over steps of MaxVio_batch, per layer.</summary>
    public required IReadOnlyList<double> SupMaxVioPerLayer { get; init; }

    /// <summary>Training wall time (steps only, excluding validation and checkpoints).</summary>
    public required double WallSeconds { get; init; }

    /// <summary>Training tokens per second of wall time.</summary>
    public required double TokensPerSecond { get; init; }

    /// <summary>Time spent inside the router calls (balancing and selection).</summary>
    public required double BalancingSeconds { get; init; }

    /// <summary>BalancingSeconds / WallSeconds.</summary>
    public required double BalancingShare { get; init; }

    /// <summary>Torch intra-op threads.</summary>
    public required int Threads { get; init; }

    /// <summary>The allocator: "glibc (tuned)" or "glibc" (older runs: "jemalloc").</summary>
    public required string Allocator { get; init; }

    /// <summary>Serialises as indented camelCase JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, TrainingJson.Options);

    /// <summary>Reads a summary.json.</summary>
    /// <param name="path">The file.</param>
    public static TrainingSummary Load(string path) =>
        JsonSerializer.Deserialize<TrainingSummary>(File.ReadAllText(path), TrainingJson.Options)
        ?? throw new InvalidDataException($"{path} is empty.");
}

/// <summary>JSON options of training's files.</summary>
public static class TrainingJson
{
    /// <summary>camelCase, indented.</summary>
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web) { WriteIndented = true };
}
