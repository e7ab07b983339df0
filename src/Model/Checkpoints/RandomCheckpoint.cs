using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MoeServe.Model;

/// <summary>Choices for <see cref="RandomCheckpoint.Write"/>.</summary>
public sealed record RandomCheckpointOptions
{
    /// <summary>
    /// A directory with tokenizer.tiktoken and tokenizer.json (src/Text format) to copy, e.g.
    /// models/tokenizer-4096; its vocabSize must not exceed the config's. Null: write a byte-level
    /// tokenizer (256 byte tokens plus &lt;|endoftext|&gt; = 256), which needs vocabSize &gt;= 257.
    /// </summary>
    public string? TokenizerDirectory { get; init; }

    /// <summary>Balancing method written to balancing.json and summary.json.</summary>
    public string Method { get; init; } = "bip";

    /// <summary>q values are drawn uniformly from [0, QScale); large enough to change some top-K choices.</summary>
    public float QScale { get; init; } = 0.2f;

    /// <summary>Whether to write balancing.json (export then uses q = 0 when absent).</summary>
    public bool WriteBalancing { get; init; } = true;

    /// <summary>Whether to write summary.json.</summary>
    public bool WriteSummary { get; init; } = true;
}

/// <summary>
/// Writes complete random-weight checkpoints (config.json, model.safetensors, balancing.json with
/// non-zero q, tokenizer files, summary.json): export's <c>--random-from-config</c> uses it to measure
/// export and serving without training, and tests build tiny models with it in seconds. Same seed,
/// same files.
/// </summary>
public static class RandomCheckpoint
{
    /// <summary>The byte-level tokenizer's end-of-text id.</summary>
    public const int ByteTokenizerEndOfTextId = 256;

    /// <summary>Writes a random-weight checkpoint of <paramref name="config"/> into <paramref name="directory"/>.</summary>
    /// <param name="directory">Created if needed; existing checkpoint files are overwritten.</param>
    /// <param name="config">The architecture (validated).</param>
    /// <param name="seed">Seed of every random value.</param>
    /// <param name="options">Tokenizer source, q scale, optional files.</param>
    /// <returns>The layout of the written checkpoint.</returns>
    public static CheckpointLayout Write(string directory, ModelConfig config, int seed, RandomCheckpointOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(config);
        options ??= new RandomCheckpointOptions();
        config.EnsureValid();
        Directory.CreateDirectory(directory);
        var layout = new CheckpointLayout(directory);
        var random = new Random(seed);

        WriteTokenizer(layout, config, options.TokenizerDirectory);
        config.Save(layout.ConfigPath);
        SafeTensorsFile.Write(layout.WeightsPath, RandomWeights(config, random), TensorDType.Float32, new Dictionary<string, string> { ["format"] = "pt", ["source"] = "RandomCheckpoint" });

        if (options.WriteBalancing)
        {
            var q = Enumerable.Range(0, config.Layers)
                .Select(_ => Enumerable.Range(0, config.Experts).Select(_ => (float)random.NextDouble() * options.QScale).ToArray())
                .ToArray();
            BalancingFile.Write(layout.BalancingPath, options.Method, q);
        }

        if (options.WriteSummary)
        {
            var summary = new JsonObject
            {
                ["method"] = options.Method,
                ["steps"] = 0,
                ["validationPerplexity"] = (double)config.VocabSize,
                ["avgMaxVio"] = 0.0,
                ["note"] = "random weights written by RandomCheckpoint (seed " + seed.ToString(CultureInfo.InvariantCulture) + ")",
            };
            File.WriteAllText(layout.SummaryPath, summary.ToJsonString(ModelJson.Options));
        }

        return layout;
    }

    /// <summary>Random weights of every tensor <paramref name="config"/> needs (uniform; linear layers bounded by 1/sqrt(fan-in) like PyTorch's default).</summary>
    /// <param name="config">The architecture.</param>
    /// <param name="random">Source of randomness.</param>
    public static Dictionary<string, FloatTensor> RandomWeights(ModelConfig config, Random random)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(random);
        var tensors = new Dictionary<string, FloatTensor>(StringComparer.Ordinal);
        foreach (var (name, shape) in CheckpointTensorNames.Expected(config))
        {
            float[] data = new float[checked((int)FloatTensor.ElementCountOf(shape))];
            if (shape.Length == 1)
            {
                // Norm weights near 1, but not exactly, so a graph that ignores them fails the tests.
                for (int i = 0; i < data.Length; i++)
                {
                    data[i] = 1f + (float)((random.NextDouble() - 0.5) * 0.4);
                }
            }
            else
            {
                // Linear weights as PyTorch initialises them (uniform, bound 1/sqrt(fan-in)); embeddings
                // uniform in [-0.5, 0.5) so the tied logits span a few units, like a small trained model's.
                float scale = name == CheckpointTensorNames.TokenEmbeddings ? 0.5f : (float)(1.0 / Math.Sqrt(shape[1]));
                for (int i = 0; i < data.Length; i++)
                {
                    data[i] = (float)((random.NextDouble() * 2) - 1) * scale;
                }
            }

            tensors[name] = new FloatTensor(shape, data);
        }

        return tensors;
    }

    private static void WriteTokenizer(CheckpointLayout layout, ModelConfig config, string? sourceDirectory)
    {
        if (sourceDirectory is not null)
        {
            var source = new CheckpointLayout(sourceDirectory);
            foreach (string file in new[] { source.TokenizerTiktokenPath, source.TokenizerJsonPath })
            {
                if (!File.Exists(file))
                {
                    throw new FileNotFoundException($"Tokenizer file not found: {file}", file);
                }
            }

            int tokenizerSize;
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(source.TokenizerJsonPath));
                tokenizerSize = doc.RootElement.TryGetProperty("vocabSize", out var size) ? size.GetInt32() : 0;
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"{source.TokenizerJsonPath} is not a valid tokenizer description: {ex.Message}", ex);
            }

            if (tokenizerSize > config.VocabSize)
            {
                throw new ArgumentException($"Tokenizer in {sourceDirectory} has {tokenizerSize} tokens; config.vocabSize is {config.VocabSize}.", nameof(config));
            }

            File.Copy(source.TokenizerTiktokenPath, layout.TokenizerTiktokenPath, overwrite: true);
            File.Copy(source.TokenizerJsonPath, layout.TokenizerJsonPath, overwrite: true);
            return;
        }

        if (config.VocabSize <= ByteTokenizerEndOfTextId)
        {
            throw new ArgumentException($"The byte-level tokenizer needs vocabSize >= {ByteTokenizerEndOfTextId + 1}; config.vocabSize is {config.VocabSize}.", nameof(config));
        }

        var ranks = new StringBuilder();
        for (int b = 0; b < 256; b++)
        {
            ranks.Append(Convert.ToBase64String([(byte)b])).Append(' ').Append(b.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        File.WriteAllText(layout.TokenizerTiktokenPath, ranks.ToString(), new UTF8Encoding(false));

        // Same fields as MoeServe.Text's TokenizerDescription (format version 1).
        var description = new JsonObject
        {
            ["format"] = "tiktoken",
            ["version"] = 1,
            ["vocabularyFile"] = CheckpointLayout.TokenizerTiktokenFileName,
            ["vocabSize"] = 257,
            ["ordinaryTokens"] = 256,
            ["pattern"] = @"'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
            ["specialTokens"] = new JsonObject { ["<|endoftext|>"] = ByteTokenizerEndOfTextId },
            ["endOfTextId"] = ByteTokenizerEndOfTextId,
            ["normalization"] = "none",
        };
        File.WriteAllText(layout.TokenizerJsonPath, description.ToJsonString(ModelJson.Options) + "\n", new UTF8Encoding(false));
    }
}
