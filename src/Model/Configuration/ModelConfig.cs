using System.Text.Json;
using System.Text.Json.Serialization;
using MoeServe.Router;

namespace MoeServe.Model;

/// <summary>
/// Architecture of a Mixture-of-Experts transformer, as written to a checkpoint's config.json
/// (camelCase JSON, see docs/contracts.md). Presets live with training; this type only describes
/// and validates.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>Number of tokens in the vocabulary (V).</summary>
    public required int VocabSize { get; init; }

    /// <summary>Model width (d).</summary>
    public required int DModel { get; init; }

    /// <summary>Number of transformer layers.</summary>
    public required int Layers { get; init; }

    /// <summary>Number of attention heads (H); d must be divisible by H and d / H even (RoPE).</summary>
    public required int Heads { get; init; }

    /// <summary>Number of routed experts per layer (m).</summary>
    public required int Experts { get; init; }

    /// <summary>Experts chosen per token (k).</summary>
    public required int TopK { get; init; }

    /// <summary>Hidden width of each routed SwiGLU expert (h).</summary>
    public required int ExpertHidden { get; init; }

    /// <summary>Hidden width of the always-on shared expert; 0 means there is none.</summary>
    public int SharedExpertHidden { get; init; }

    /// <summary>Longest sequence (prompt plus generated tokens) the model is trained for.</summary>
    public required int ContextLength { get; init; }

    /// <summary>RoPE base frequency theta.</summary>
    public double RopeTheta { get; init; } = 10000.0;

    /// <summary>Epsilon inside every RMSNorm square root.</summary>
    public double NormEps { get; init; } = 1e-5;

    /// <summary>How router logits become scores.</summary>
    public ScoreFunction ScoreFunction { get; init; } = ScoreFunction.Softmax;

    /// <summary>Whether the chosen experts' gates are divided by their sum.</summary>
    public bool Renormalize { get; init; } = true;

    /// <summary>
    /// Key/value heads for grouped-query attention (query head h reads key/value head h / (heads / kvHeads));
    /// 0 (the default, not written) means one per query head.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int KvHeads { get; init; }

    /// <summary>Explicit width of one attention head ("headDim"); 0 (the default, not written) means d / H.</summary>
    [JsonPropertyName("headDim")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int ExplicitHeadDim { get; init; }

    /// <summary>RMSNorm of queries and keys before RoPE (none, per head over hd as Qwen3, or over the whole projection as OLMoE).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public QkNormKind QkNorm { get; init; }

    /// <summary>Whether the Q, K and V projections have biases (Qwen2-MoE); Wo never has one.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool QkvBias { get; init; }

    /// <summary>Whether the shared expert's output is scaled by sigmoid(x Wsg^T) (Qwen2-MoE's shared_expert_gate) instead of 1.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool SharedExpertGate { get; init; }

    /// <summary>Whether the output head has its own weight (lm_head) instead of the token embedding (tied).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool UntiedHead { get; init; }

    /// <summary>Width of one attention head: headDim when given, else d / H.</summary>
    [JsonIgnore]
    public int HeadDim => ExplicitHeadDim > 0 ? ExplicitHeadDim : Heads > 0 ? DModel / Heads : 0;

    /// <summary>Key/value heads actually used (kvHeads, or heads when 0).</summary>
    [JsonIgnore]
    public int KeyValueHeads => KvHeads > 0 ? KvHeads : Heads;

    /// <summary>Width of the concatenated query heads (H x hd), the attention output's width.</summary>
    [JsonIgnore]
    public int QueryWidth => Heads * HeadDim;

    /// <summary>Width of the concatenated key (or value) heads (kvHeads x hd).</summary>
    [JsonIgnore]
    public int KeyValueWidth => KeyValueHeads * HeadDim;

    /// <summary>Whether a shared expert exists.</summary>
    [JsonIgnore]
    public bool HasSharedExpert => SharedExpertHidden > 0;

    /// <summary>Every problem with this configuration, each naming its field; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        Positive(errors, VocabSize, "vocabSize");
        Positive(errors, DModel, "dModel");
        Positive(errors, Layers, "layers");
        Positive(errors, Heads, "heads");
        Positive(errors, Experts, "experts");
        Positive(errors, TopK, "topK");
        Positive(errors, ExpertHidden, "expertHidden");
        Positive(errors, ContextLength, "contextLength");
        if (SharedExpertHidden < 0)
        {
            errors.Add($"sharedExpertHidden must be 0 (none) or positive, got {SharedExpertHidden}.");
        }

        if (KvHeads < 0)
        {
            errors.Add($"kvHeads must be 0 (one per head) or positive, got {KvHeads}.");
        }
        else if (KvHeads > 0 && Heads > 0 && Heads % KvHeads != 0)
        {
            errors.Add($"heads ({Heads}) must be a multiple of kvHeads ({KvHeads}).");
        }

        if (ExplicitHeadDim < 0)
        {
            errors.Add($"headDim must be 0 (d / heads) or positive, got {ExplicitHeadDim}.");
        }
        else if (ExplicitHeadDim > 0 && ExplicitHeadDim % 2 != 0)
        {
            errors.Add($"headDim ({ExplicitHeadDim}) must be even for rotate-half RoPE.");
        }

        if (!Enum.IsDefined(QkNorm))
        {
            errors.Add($"qkNorm must be \"none\", \"perHead\" or \"full\", got {(int)QkNorm}.");
        }

        if (SharedExpertGate && SharedExpertHidden <= 0)
        {
            errors.Add("sharedExpertGate needs a shared expert (sharedExpertHidden > 0).");
        }

        if (DModel > 0 && Heads > 0 && ExplicitHeadDim == 0)
        {
            if (DModel % Heads != 0)
            {
                errors.Add($"dModel ({DModel}) must be divisible by heads ({Heads}).");
            }
            else if (DModel / Heads % 2 != 0)
            {
                errors.Add($"dModel / heads ({DModel / Heads}) must be even for rotate-half RoPE.");
            }
        }

        if (TopK > 0 && Experts > 0 && TopK > Experts)
        {
            errors.Add($"topK ({TopK}) must not exceed experts ({Experts}).");
        }

        if (!(RopeTheta > 0) || double.IsInfinity(RopeTheta))
        {
            errors.Add($"ropeTheta must be a positive finite number, got {RopeTheta}.");
        }

        if (!(NormEps > 0) || double.IsInfinity(NormEps))
        {
            errors.Add($"normEps must be a positive finite number, got {NormEps}.");
        }

        if (!Enum.IsDefined(ScoreFunction))
        {
            errors.Add($"scoreFunction must be \"softmax\" or \"sigmoid\", got {(int)ScoreFunction}.");
        }

        return errors;
    }

    private static void Positive(List<string> errors, int value, string field)
    {
        if (value <= 0)
        {
            errors.Add($"{field} must be positive, got {value}.");
        }
    }

    /// <summary>Throws one <see cref="InvalidDataException"/> listing every problem, if any.</summary>
    /// <param name="source">Where the configuration came from, named in the message.</param>
    public void EnsureValid(string source = "model config")
    {
        var errors = Validate();
        if (errors.Count > 0)
        {
            throw new InvalidDataException($"Invalid {source}:{Environment.NewLine}  - " + string.Join(Environment.NewLine + "  - ", errors));
        }
    }

    /// <summary>The camelCase JSON of this configuration.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, ModelJson.Options);

    /// <summary>Parses camelCase JSON; throws <see cref="InvalidDataException"/> naming the source on bad JSON.</summary>
    /// <param name="json">The JSON text.</param>
    /// <param name="source">Where the text came from, named in errors.</param>
    public static ModelConfig FromJson(string json, string source = "model config") =>
        ModelJson.Deserialize<ModelConfig>(json, source, "a valid model config")
            ?? throw new InvalidDataException($"{source} is empty (null JSON).");

    /// <summary>Reads and validates a config.json file.</summary>
    /// <param name="path">Path of the file.</param>
    public static ModelConfig Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Model config not found: {path}", path);
        }

        var config = FromJson(File.ReadAllText(path), path);
        config.EnsureValid(path);
        return config;
    }

    /// <summary>Validates and writes this configuration as indented camelCase JSON.</summary>
    /// <param name="path">Path of the file to write.</param>
    public void Save(string path)
    {
        EnsureValid();
        File.WriteAllText(path, ToJson());
    }
}
