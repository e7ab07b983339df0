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
    public static TrainingPreset Tiny { get; } = Preset("tiny", vocabSize: 64, width: 32, layers: 2, heads: 2, experts: 8, expertHidden: 32, context: 32, batchSize: 4, learningRate: 3e-3, "tests: d 32, 2 layers, 8 experts, context 32");

    /// <summary>The compare run: thousands of steps in well under an hour of one core.</summary>
    public static TrainingPreset Mini { get; } = Preset("mini", vocabSize: 4096, width: 128, layers: 4, heads: 4, experts: 16, expertHidden: 128, context: 128, batchSize: 8, learningRate: 2e-3, "compare runs: d 128, 4 layers, 16 experts (hidden 128), top-2, context 128, batch 8");

    /// <summary>The served default model: ~14.7M parameters, ~29 MB in float16.</summary>
    public static TrainingPreset Small { get; } = Preset("small", vocabSize: 4096, width: 256, layers: 4, heads: 8, experts: 16, expertHidden: 256, context: 256, batchSize: 16, learningRate: 1.5e-3, "served default: d 256, 4 layers, 8 heads, 16 experts (hidden 256), top-2, context 256");

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

    // One row of the preset table: every preset routes top-2 and has no shared expert.
    private static TrainingPreset Preset(string name, int vocabSize, int width, int layers, int heads, int experts, int expertHidden, int context, int batchSize, double learningRate, string description) =>
        new(name, new ModelConfig { VocabSize = vocabSize, DModel = width, Layers = layers, Heads = heads, Experts = experts, TopK = 2, ExpertHidden = expertHidden, ContextLength = context }, batchSize, learningRate, description);

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
