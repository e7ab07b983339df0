using MoeServe.Model;

namespace MoeServe.Training.Configuration;

/// <summary>A named model architecture with the batch shape it trains with.</summary>
/// <param name="Name">The preset name (flag --preset).</param>
/// <param name="Model">The architecture (vocabSize is replaced by the tokenizer's when one is used).</param>
/// <param name="BatchSize">Sequences per step.</param>
/// <param name="LearningRate">Peak learning rate.</param>
/// <param name="Description">One line for --help and docs.</param>
public sealed record TrainingPreset(string Name, ModelConfig Model, int BatchSize, double LearningRate, string Description);

/// <summary>The built-in presets.</summary>
public static class TrainingPresets
{
    /// <summary>Tests: trains a step in milliseconds.</summary>
    public static TrainingPreset Tiny { get; } = new(
        "tiny",
        new ModelConfig { VocabSize = 64, DModel = 32, Layers = 2, Heads = 2, Experts = 8, TopK = 2, ExpertHidden = 32, ContextLength = 32 },
        BatchSize: 4,
        LearningRate: 3e-3,
        "tests: d 32, 2 layers, 8 experts, context 32");

    /// <summary>The compare run: thousands of steps in well under an hour of one core.</summary>
    public static TrainingPreset Mini { get; } = new(
        "mini",
        new ModelConfig { VocabSize = 4096, DModel = 128, Layers = 4, Heads = 4, Experts = 16, TopK = 2, ExpertHidden = 128, ContextLength = 128 },
        BatchSize: 8,
        LearningRate: 2e-3,
        "compare runs: d 128, 4 layers, 16 experts (hidden 128), top-2, context 128, batch 8");

    /// <summary>The served default model: ~14.7M parameters, ~29 MB in float16.</summary>
    public static TrainingPreset Small { get; } = new(
        "small",
        new ModelConfig { VocabSize = 4096, DModel = 256, Layers = 4, Heads = 8, Experts = 16, TopK = 2, ExpertHidden = 256, ContextLength = 256 },
        BatchSize: 16,
        LearningRate: 1.5e-3,
        "served default: d 256, 4 layers, 8 heads, 16 experts (hidden 256), top-2, context 256");

    /// <summary>Every preset by name.</summary>
    public static IReadOnlyList<TrainingPreset> All { get; } = [Tiny, Mini, Small];

    /// <summary>Finds a preset by name (case-insensitive).</summary>
    /// <param name="name">The name.</param>
    /// <param name="preset">The preset.</param>
    public static bool TryGet(string? name, out TrainingPreset preset)
    {
        preset = All.FirstOrDefault(p => string.Equals(p.Name, name?.Trim(), StringComparison.OrdinalIgnoreCase))!;
        return preset is not null;
    }

    /// <summary>
    /// Parameters of a configuration (tied head counted once): embeddings, norms, attention, router,
    /// routed experts, shared expert.
    /// </summary>
    /// <param name="config">The architecture.</param>
    public static long ParameterCount(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        long d = config.DModel;
        long perLayer = (2 * d) + (4 * d * d) + (config.Experts * d)
            + (config.Experts * 3L * d * config.ExpertHidden)
            + (3L * d * config.SharedExpertHidden);
        return ((long)config.VocabSize * d) + d + (config.Layers * perLayer);
    }
}
