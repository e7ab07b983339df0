using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

using MoeServe.Router;

namespace MoeServe.Model.Import;

/// <summary>
/// How one Hugging Face MoE family maps onto MoeServe's model: config.json keys to a
/// <see cref="ModelConfig"/>, and each MoeServe tensor name to the transformers name it is read from
/// (layouts are the same: Linear weights [out, in]). Written from transformers' configuration_*.py and
/// modeling_*.py of mixtral, qwen2_moe, qwen3_moe and olmoe (docs/importing.md lists every key).
/// </summary>
public sealed partial class HfModelMapping
{
    /// <summary>The model_type values this build imports.</summary>
    public static readonly IReadOnlyList<string> SupportedModelTypes = ["mixtral", "qwen2_moe", "qwen3_moe", "olmoe"];

    private HfModelMapping(string modelType, ModelConfig config, int bosId, IReadOnlyList<int> eosIds)
    {
        ModelType = modelType;
        Config = config;
        BosId = bosId;
        EosIds = eosIds;
    }

    /// <summary>config.json's model_type.</summary>
    public string ModelType { get; }

    /// <summary>The MoeServe model configuration.</summary>
    public ModelConfig Config { get; }

    /// <summary>bos_token_id (generation_config.json first, then config.json), or -1.</summary>
    public int BosId { get; }

    /// <summary>eos_token_id as a list (it may be one id or a list), possibly empty.</summary>
    public IReadOnlyList<int> EosIds { get; }

    /// <summary>
    /// Maps a checkpoint's config; throws <see cref="UnsupportedCheckpointException"/> with one line naming
    /// the key and value for anything this build cannot run exactly.
    /// </summary>
    /// <param name="checkpoint">The checkpoint (only its config and generation config are read here).</param>
    /// <param name="contextLength">Caps the context length below max_position_embeddings (null: keep it).</param>
    public static HfModelMapping FromConfig(IHfCheckpoint checkpoint, int? contextLength = null)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        try
        {
            return Map(checkpoint, contextLength);
        }
        catch (UnsupportedCheckpointException e) when (e.ConfigKey is { } key && !key.StartsWith("--", StringComparison.Ordinal))
        {
            // Name the key as the source holds it (a GGUF's metadata key rather than the config.json key it maps to).
            throw new UnsupportedCheckpointException($"unsupported {checkpoint.DescribeConfigValue(key, e.ConfigValue!)} ({e.Reason})", e)
            {
                ConfigKey = key,
                ConfigValue = e.ConfigValue,
                Reason = e.Reason,
            };
        }
    }

    private static HfModelMapping Map(IHfCheckpoint checkpoint, int? contextLength)
    {
        var c = checkpoint.Config;
        string modelType = (string?)c["model_type"] ?? throw Refuse("model_type", "missing", "config.json must name the family");
        if (!SupportedModelTypes.Contains(modelType))
        {
            throw Refuse("model_type", Quote(modelType), $"supported: {string.Join(", ", SupportedModelTypes)}");
        }

        string act = (string?)c["hidden_act"] ?? "silu";
        if (act != "silu")
        {
            throw Refuse("hidden_act", Quote(act), "only silu (SwiGLU experts) is supported");
        }

        CheckRope(c);
        if (c["kv_lora_rank"] is { } kvLora && kvLora.GetValueKind() != System.Text.Json.JsonValueKind.Null)
        {
            throw Refuse("kv_lora_rank", kvLora.ToJsonString(), "multi-head latent attention (MLA) is not supported");
        }

        if (Bool(c, "use_sliding_window", false))
        {
            throw Refuse("use_sliding_window", "true", "sliding-window attention is not supported");
        }

        int hidden = Int(c, "hidden_size");
        int heads = Int(c, "num_attention_heads");
        int kvHeads = Int(c, "num_key_value_heads", heads);
        int layers = Int(c, "num_hidden_layers");
        int vocab = Int(c, "vocab_size");
        int maxPositions = Int(c, "max_position_embeddings");
        if (modelType == "mixtral" && c["sliding_window"] is { } window && window.GetValueKind() != System.Text.Json.JsonValueKind.Null && window.GetValue<long>() < maxPositions)
        {
            throw Refuse("sliding_window", window.ToJsonString(), $"sliding-window attention shorter than max_position_embeddings ({maxPositions}) is not supported");
        }

        // OLMoE computes head_dim = hidden_size / num_attention_heads and ignores a head_dim key; the others read it when present.
        int headDim = modelType == "olmoe" ? hidden / heads : Int(c, "head_dim", hidden / heads);
        int experts;
        int expertHidden;
        int shared = 0;
        bool renormalize;
        var qkNorm = QkNormKind.None;
        bool qkvBias = false;
        switch (modelType)
        {
            case "mixtral":
                experts = Int(c, "num_local_experts");
                expertHidden = Int(c, "intermediate_size");
                renormalize = true; // MixtralSparseMoeBlock always divides the top-k weights by their sum.
                break;
            case "qwen2_moe":
                CheckAllSparse(c);
                experts = Int(c, "num_experts");
                expertHidden = Int(c, "moe_intermediate_size");
                shared = Int(c, "shared_expert_intermediate_size");
                if (shared <= 0)
                {
                    throw Refuse("shared_expert_intermediate_size", shared.ToString(CultureInfo.InvariantCulture), "Qwen2-MoE's shared expert must have a positive width");
                }

                renormalize = Bool(c, "norm_topk_prob", false);
                qkvBias = Bool(c, "qkv_bias", true);
                break;
            case "qwen3_moe":
                CheckAllSparse(c);
                CheckNoAttentionBias(c);
                experts = Int(c, "num_experts");
                expertHidden = Int(c, "moe_intermediate_size");
                renormalize = Bool(c, "norm_topk_prob", false);
                qkNorm = QkNormKind.PerHead;
                break;
            default: // olmoe
                CheckNoAttentionBias(c);
                if (c["clip_qkv"] is { } clip && clip.GetValueKind() != System.Text.Json.JsonValueKind.Null)
                {
                    throw Refuse("clip_qkv", clip.ToJsonString(), "clamping q/k/v is not supported");
                }

                experts = Int(c, "num_experts");
                expertHidden = Int(c, "intermediate_size");
                renormalize = Bool(c, "norm_topk_prob", false);
                qkNorm = QkNormKind.Full;
                break;
        }

        int context = maxPositions;
        if (contextLength is { } cap)
        {
            if (cap <= 0)
            {
                throw Refuse("--context-length", cap.ToString(CultureInfo.InvariantCulture), "must be positive");
            }

            context = Math.Min(cap, maxPositions);
        }

        var config = new ModelConfig
        {
            VocabSize = vocab,
            DModel = hidden,
            Layers = layers,
            Heads = heads,
            KvHeads = kvHeads == heads ? 0 : kvHeads,
            ExplicitHeadDim = headDim * heads == hidden ? 0 : headDim,
            Experts = experts,
            TopK = Int(c, "num_experts_per_tok"),
            ExpertHidden = expertHidden,
            SharedExpertHidden = shared,
            SharedExpertGate = shared > 0,
            ContextLength = context,
            RopeTheta = RopeTheta(c, modelType),
            NormEps = Double(c, "rms_norm_eps", modelType is "qwen2_moe" or "qwen3_moe" ? 1e-6 : 1e-5),
            ScoreFunction = ScoreFunction.Softmax,
            Renormalize = renormalize,
            QkNorm = qkNorm,
            QkvBias = qkvBias,
            UntiedHead = !Bool(c, "tie_word_embeddings", false),
        };
        var errors = config.Validate();
        if (errors.Count > 0)
        {
            throw new UnsupportedCheckpointException($"config.json maps to an invalid model: {errors[0]}");
        }

        var generation = checkpoint.GenerationConfig;
        int bos = Ids(generation?["bos_token_id"]) is [var b, ..] ? b : Ids(c["bos_token_id"]) is [var cb, ..] ? cb : -1;
        var eos = Ids(generation?["eos_token_id"]);
        if (eos.Count == 0)
        {
            eos = Ids(c["eos_token_id"]);
        }

        return new HfModelMapping(modelType, config, bos, eos);
    }

    /// <summary>The transformers tensor name a MoeServe tensor (<see cref="CheckpointTensorNames"/>) is read from.</summary>
    /// <param name="name">A MoeServe checkpoint tensor name.</param>
    public string HfName(string name)
    {
        switch (name)
        {
            case CheckpointTensorNames.TokenEmbeddings:
                return "model.embed_tokens.weight";
            case CheckpointTensorNames.FinalNorm:
                return "model.norm.weight";
            case CheckpointTensorNames.OutputHead:
                return "lm_head.weight";
        }

        var match = LayerName().Match(name);
        if (!match.Success)
        {
            throw new ArgumentException($"No transformers name for '{name}'.", nameof(name));
        }

        string prefix = $"model.layers.{match.Groups[1].Value}.";
        string rest = match.Groups[2].Value;
        string moe = ModelType == "mixtral" ? "block_sparse_moe" : "mlp";
        var expert = ExpertName().Match(rest);
        if (expert.Success)
        {
            string j = expert.Groups[1].Value;
            string w = expert.Groups[2].Value;
            return ModelType == "mixtral"
                ? $"{prefix}block_sparse_moe.experts.{j}.{w}.weight"
                : $"{prefix}mlp.experts.{j}.{ProjectionOf(w)}.weight";
        }

        var sharedExpert = SharedName().Match(rest);
        if (sharedExpert.Success)
        {
            return $"{prefix}mlp.shared_expert.{ProjectionOf(sharedExpert.Groups[1].Value)}.weight";
        }

        return prefix + rest switch
        {
            "attention_norm.weight" => "input_layernorm.weight",
            "ffn_norm.weight" => "post_attention_layernorm.weight",
            "attention.wq.weight" => "self_attn.q_proj.weight",
            "attention.wk.weight" => "self_attn.k_proj.weight",
            "attention.wv.weight" => "self_attn.v_proj.weight",
            "attention.wo.weight" => "self_attn.o_proj.weight",
            "attention.wq.bias" => "self_attn.q_proj.bias",
            "attention.wk.bias" => "self_attn.k_proj.bias",
            "attention.wv.bias" => "self_attn.v_proj.bias",
            "attention.q_norm.weight" => "self_attn.q_norm.weight",
            "attention.k_norm.weight" => "self_attn.k_norm.weight",
            "moe.gate.weight" => $"{moe}.gate.weight",
            "moe.shared_expert_gate.weight" => "mlp.shared_expert_gate.weight",
            _ => throw new ArgumentException($"No transformers name for '{name}'.", nameof(name)),
        };
    }

    /// <summary>
    /// Where a routed expert's weight sits in transformers' fused 3D layout (as transformers 5 holds experts
    /// in memory and may save them): <c>…experts.gate_up_proj</c> [E, 2h, d] (rows 0..h gate = w1, h..2h up = w3)
    /// and <c>…experts.down_proj</c> [E, d, h] (w2). Null for any other tensor.
    /// </summary>
    /// <param name="name">A MoeServe checkpoint tensor name.</param>
    /// <returns>The candidate fused names (mixtral: under block_sparse_moe or mlp), the expert, and which part.</returns>
    public (string[] FusedNames, int Expert, string Part)? FusedExpertSource(string name)
    {
        var match = LayerName().Match(name);
        if (!match.Success)
        {
            return null;
        }

        var expert = ExpertName().Match(match.Groups[2].Value);
        if (!expert.Success)
        {
            return null;
        }

        string prefix = $"model.layers.{match.Groups[1].Value}.";
        string w = expert.Groups[2].Value;
        string tensor = w == "w2" ? "down_proj" : "gate_up_proj";
        string[] modules = ModelType == "mixtral" ? ["mlp", "block_sparse_moe"] : ["mlp"];
        return (modules.Select(m => $"{prefix}{m}.experts.{tensor}").ToArray(), int.Parse(expert.Groups[1].Value, CultureInfo.InvariantCulture), w);
    }

    private static string ProjectionOf(string w) => w switch
    {
        "w1" => "gate_proj",
        "w3" => "up_proj",
        _ => "down_proj",
    };

    private static void CheckRope(JsonObject c)
    {
        if (c["rope_scaling"] is JsonObject scaling)
        {
            string type = (string?)scaling["rope_type"] ?? (string?)scaling["type"] ?? "?";
            if (type != "default")
            {
                throw Refuse("rope_scaling", scaling.ToJsonString(), "RoPE scaling is not supported");
            }
        }

        if (c["rope_parameters"] is JsonObject parameters && ((string?)parameters["rope_type"] ?? "default") != "default")
        {
            throw Refuse("rope_parameters.rope_type", Quote((string?)parameters["rope_type"]), "RoPE scaling is not supported");
        }
    }

    private static double RopeTheta(JsonObject c, string modelType)
    {
        if (c["rope_theta"] is { } theta && theta.GetValueKind() == System.Text.Json.JsonValueKind.Number)
        {
            return theta.GetValue<double>();
        }

        if (c["rope_parameters"] is JsonObject p && p["rope_theta"] is { } t && t.GetValueKind() == System.Text.Json.JsonValueKind.Number)
        {
            return t.GetValue<double>();
        }

        return modelType == "mixtral" ? 1e6 : 10000.0; // the configuration classes' defaults
    }

    private static void CheckAllSparse(JsonObject c)
    {
        if (c["mlp_only_layers"] is JsonArray { Count: > 0 } dense)
        {
            throw Refuse("mlp_only_layers", dense.ToJsonString(), "dense (non-MoE) layers are not supported");
        }

        int step = Int(c, "decoder_sparse_step", 1);
        if (step != 1)
        {
            throw Refuse("decoder_sparse_step", step.ToString(CultureInfo.InvariantCulture), "only 1 (every layer MoE) is supported");
        }
    }

    private static void CheckNoAttentionBias(JsonObject c)
    {
        if (Bool(c, "attention_bias", false))
        {
            throw Refuse("attention_bias", "true", "biases on q/k/v/o projections are not supported for this family");
        }
    }

    private static List<int> Ids(JsonNode? node) => node switch
    {
        JsonArray array => array.Where(v => v is not null).Select(v => v!.GetValue<int>()).ToList(),
        JsonValue value when value.GetValueKind() == System.Text.Json.JsonValueKind.Number => [value.GetValue<int>()],
        _ => [],
    };

    private static int Int(JsonObject c, string key, int? fallback = null)
    {
        var node = c[key];
        if (node is null || node.GetValueKind() == System.Text.Json.JsonValueKind.Null)
        {
            return fallback ?? throw Refuse(key, "missing", "required");
        }

        if (node.GetValueKind() != System.Text.Json.JsonValueKind.Number || !node.AsValue().TryGetValue(out long value) || value is < int.MinValue or > int.MaxValue)
        {
            throw Refuse(key, node.ToJsonString(), "must be an integer");
        }

        return (int)value;
    }

    private static double Double(JsonObject c, string key, double fallback)
    {
        var node = c[key];
        return node is null || node.GetValueKind() == System.Text.Json.JsonValueKind.Null
            ? fallback
            : node.GetValueKind() == System.Text.Json.JsonValueKind.Number ? node.GetValue<double>() : throw Refuse(key, node.ToJsonString(), "must be a number");
    }

    private static bool Bool(JsonObject c, string key, bool fallback)
    {
        var node = c[key];
        return node?.GetValueKind() switch
        {
            null or System.Text.Json.JsonValueKind.Null => fallback,
            System.Text.Json.JsonValueKind.True => true,
            System.Text.Json.JsonValueKind.False => false,
            _ => throw Refuse(key, node.ToJsonString(), "must be true or false"),
        };
    }

    private static string Quote(string? value) => value is null ? "null" : $"\"{value}\"";

    private static UnsupportedCheckpointException Refuse(string key, string value, string why) =>
        new($"unsupported config.json: {key} = {value} ({why})") { ConfigKey = key, ConfigValue = value, Reason = why };

    [GeneratedRegex(@"^layers\.(\d+)\.(.+)$")]
    private static partial Regex LayerName();

    [GeneratedRegex(@"^moe\.experts\.(\d+)\.(w[123])\.weight$")]
    private static partial Regex ExpertName();

    [GeneratedRegex(@"^moe\.shared_expert\.(w[123])\.weight$")]
    private static partial Regex SharedName();
}
