using System.Buffers;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MoeServe.Model.Import;

namespace MoeServe.Model.Gguf;

/// <summary>
/// A GGUF MoE checkpoint seen the way Hugging Face names it: the <c>{arch}.*</c> metadata turned into
/// the transformers config.json keys of the family, and every tensor under its transformers name and
/// layout, undoing what llama.cpp's convert_hf_to_gguf.py did: stacked expert tensors are split back
/// into one tensor per expert, ggml's reversed dimension order is turned back into PyTorch's, and for
/// the <c>llama</c> architecture (Mixtral) the q/k row permutation the converter applies for llama.cpp's
/// RoPE is undone. Supported: <c>llama</c> with experts (model_type mixtral), <c>qwen2moe</c>
/// (qwen2_moe), <c>qwen3moe</c> (qwen3_moe), <c>olmoe</c> (olmoe).
/// </summary>
public sealed partial class GgufCheckpoint : IHfCheckpoint
{
    /// <summary>The GGUF architectures this maps, with the transformers model_type of each.</summary>
    public static IReadOnlyDictionary<string, string> SupportedArchitectures { get; } = new Dictionary<string, string>
    {
        ["llama"] = "mixtral",
        ["qwen2moe"] = "qwen2_moe",
        ["qwen3moe"] = "qwen3_moe",
        ["olmoe"] = "olmoe",
    };

    private readonly GgufFile _file;
    private readonly bool _ownsFile;
    private readonly Dictionary<string, TensorSource> _tensors = new(StringComparer.Ordinal);
    private readonly int _heads;
    private readonly int _kvHeads;

    /// <summary>Maps an open GGUF file; disposing the checkpoint disposes the file when <paramref name="ownsFile"/>.</summary>
    public GgufCheckpoint(GgufFile file, bool ownsFile = true)
    {
        ArgumentNullException.ThrowIfNull(file);
        _file = file;
        _ownsFile = ownsFile;
        Architecture = file.Architecture ?? throw Refuse("it has no general.architecture");
        if (!SupportedArchitectures.TryGetValue(Architecture, out string? modelType))
        {
            throw Refuse($"general.architecture '{Architecture}' is not supported (supported: llama with experts i.e. Mixtral, qwen2moe, qwen3moe, olmoe)");
        }
        ModelType = modelType;
        Tokenizer = GgufTokenizerMetadata.FromFile(file);
        _heads = (int)RequiredUniform("attention.head_count");
        _kvHeads = (int)(Uniform("attention.head_count_kv") ?? _heads);
        Config = BuildConfig();
        EndOfGenerationIds = CollectEndOfGeneration();
        GenerationConfig = EndOfGenerationIds.Count == 0 ? null : new JsonObject
        {
            ["bos_token_id"] = Config["bos_token_id"]?.DeepClone(),
            ["eos_token_id"] = new JsonArray(EndOfGenerationIds.Select(id => (JsonNode)id).ToArray()),
        };
        MapTensors();
    }

    /// <summary>Opens <paramref name="path"/> and maps it.</summary>
    public static GgufCheckpoint Open(string path)
    {
        GgufFile file = GgufFile.Open(path);
        try
        {
            return new GgufCheckpoint(file, ownsFile: true);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The underlying file.</summary>
    public GgufFile File => _file;

    /// <summary>general.architecture (llama, qwen2moe, qwen3moe, olmoe).</summary>
    public string Architecture { get; }

    /// <summary>The transformers model_type it maps to (mixtral, qwen2_moe, qwen3_moe, olmoe).</summary>
    public string ModelType { get; }

    /// <summary>The tokenizer and chat template metadata, or null when the file has none.</summary>
    public GgufTokenizerMetadata? Tokenizer { get; }

    /// <inheritdoc />
    public string Source => _file.Path;

    /// <inheritdoc />
    public JsonObject Config { get; }

    /// <summary>
    /// What generation_config.json would say: <c>eos_token_id</c> lists every id llama.cpp ends generation at (see
    /// <see cref="EndOfGenerationIds"/>), as Hugging Face checkpoints list [eos, end-of-turn] there; null when the
    /// file names no end of generation.
    /// </summary>
    public JsonObject? GenerationConfig { get; }

    /// <summary>
    /// The ids that end generation, as llama.cpp's vocabulary collects them: tokenizer.ggml.eos_token_id,
    /// eot_token_id and eom_token_id, then every control or user-defined token whose text is a known end of turn
    /// (<c>&lt;|im_end|&gt;</c>, <c>&lt;|eot_id|&gt;</c>, <c>&lt;|endoftext|&gt;</c>, ...), eos first.
    /// </summary>
    public IReadOnlyList<int> EndOfGenerationIds { get; }

    /// <inheritdoc />
    public IReadOnlyCollection<string> TensorNames => _tensors.Keys;

    /// <inheritdoc />
    public IReadOnlyList<long> Shape(string name) => Get(name).Shape;

    /// <summary>The GGUF tensor a transformers tensor comes from (for messages and quantization reports).</summary>
    public GgufTensorInfo SourceTensor(string name) => Get(name).Tensor;

    /// <inheritdoc />
    public void ReadFloat32(string name, Span<float> destination)
    {
        TensorSource s = Get(name);
        long count = s.Shape.Aggregate(1L, (a, b) => a * b);
        if (destination.Length != count)
        {
            throw new ArgumentException($"{name} has {count} elements; the destination holds {destination.Length}.", nameof(destination));
        }
        if (s.PermuteHeads == 0)
        {
            _file.ReadFloat32(s.Tensor, s.FirstElement, destination);
            return;
        }
        // convert_hf_to_gguf.py LlamaModel.permute: rows of each head, reshaped [2, head_dim/2], were swapped
        // to [head_dim/2, 2], interleaving the two rotary halves. Undo: HF row h*hd + j*half + i is GGUF
        // row h*hd + 2*i + j.
        float[] permuted = ArrayPool<float>.Shared.Rent(destination.Length);
        try
        {
            Span<float> src = permuted.AsSpan(0, destination.Length);
            _file.ReadFloat32(s.Tensor, s.FirstElement, src);
            long rows = s.Shape[0];
            int rowLength = (int)(count / rows);
            int headDim = (int)(rows / s.PermuteHeads);
            int half = headDim / 2;
            for (int h = 0; h < s.PermuteHeads; h++)
            {
                for (int j = 0; j < 2; j++)
                {
                    for (int i = 0; i < half; i++)
                    {
                        int hfRow = h * headDim + j * half + i;
                        int ggufRow = h * headDim + 2 * i + j;
                        src.Slice(ggufRow * rowLength, rowLength).CopyTo(destination.Slice(hfRow * rowLength, rowLength));
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(permuted);
        }
    }

    /// <summary>
    /// The named 2D weight as <paramref name="bits"/>-bit MatMulNBits blocks copied from its Q8_0 / Q4_0 blocks
    /// (<see cref="GgmlBlockCopier"/>: no float round trip, so the values are exactly llama.cpp's), with the
    /// llama q/k row permutation undone on whole rows of blocks; null when the tensor's type does not copy
    /// losslessly to that width (F16, Q4_K, Q6_K, ... and Q8_0 to 4 bits: the caller quantizes the floats).
    /// </summary>
    /// <param name="name">A transformers tensor name.</param>
    /// <param name="bits">4 or 8.</param>
    public Quantization.BlockQuantizedMatrix? TryCopyBlocks(string name, int bits)
    {
        TensorSource s = Get(name);
        if (s.Shape.Length != 2 || !GgmlBlockCopier.CanCopy(s.Tensor.Type, bits))
        {
            return null;
        }

        int n = checked((int)s.Shape[0]);
        int k = checked((int)s.Shape[1]);
        int[]? order = null;
        if (s.PermuteHeads != 0)
        {
            // The same map as ReadFloat32: HF row h*hd + j*half + i is GGUF row h*hd + 2*i + j.
            order = new int[n];
            int headDim = n / s.PermuteHeads;
            int half = headDim / 2;
            for (int h = 0; h < s.PermuteHeads; h++)
            {
                for (int j = 0; j < 2; j++)
                {
                    for (int i = 0; i < half; i++)
                    {
                        order[(h * headDim) + (j * half) + i] = (h * headDim) + (2 * i) + j;
                    }
                }
            }
        }

        return GgmlBlockCopier.Copy(s.Tensor.Type, _file.GetBytes(s.Tensor, s.FirstElement, (long)n * k), n, k, bits, order);
    }

    // llama.cpp's llama_vocab::impl::load: tokens with these texts end generation even when no key names them.
    private static readonly string[] EndOfTurnTexts =
    [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<｜end▁of▁sentence｜>", "<|end_of_text|>",
    ];

    private List<int> CollectEndOfGeneration()
    {
        var ids = new List<int>();
        foreach (string key in new[] { "tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id" })
        {
            if (_file.GetInteger(key) is { } id && !ids.Contains((int)id))
            {
                ids.Add(checked((int)id));
            }
        }

        if (Tokenizer is { } t)
        {
            for (int id = 0; id < t.Tokens.Count; id++)
            {
                int type = t.TokenTypes?[id] ?? GgufTokenType.Normal;
                if (type is GgufTokenType.Control or GgufTokenType.UserDefined && EndOfTurnTexts.Contains(t.Tokens[id]) && !ids.Contains(id))
                {
                    ids.Add(id);
                }
            }
        }

        return ids;
    }

    /// <summary>Names the GGUF metadata key a config.json key was built from, with its value as stored in the file.</summary>
    /// <param name="key">The config.json key.</param>
    /// <param name="value">The value as built (used when no metadata key holds it).</param>
    public string DescribeConfigValue(string key, string value)
    {
        foreach (string candidate in MetadataKeysOf(key))
        {
            if (_file.Find(candidate) is { } stored)
            {
                return $"GGUF metadata: {candidate} = {stored}";
            }
        }

        return $"GGUF {System.IO.Path.GetFileName(Source)}: {key} = {value}";
    }

    private IEnumerable<string> MetadataKeysOf(string configKey) => configKey switch
    {
        "model_type" or "architectures" => ["general.architecture"],
        "rope_scaling" or "rope_parameters.rope_type" => [Key("rope.scaling.type"), Key("rope.scale_linear")],
        "use_sliding_window" or "sliding_window" => [Key("attention.sliding_window")],
        "vocab_size" => [Key("vocab_size")],
        "hidden_size" => [Key("embedding_length")],
        "num_hidden_layers" => [Key("block_count")],
        "num_attention_heads" => [Key("attention.head_count")],
        "num_key_value_heads" => [Key("attention.head_count_kv")],
        "head_dim" => [Key("attention.key_length")],
        "num_experts" or "num_local_experts" => [Key("expert_count")],
        "num_experts_per_tok" => [Key("expert_used_count")],
        "intermediate_size" => [Key("expert_feed_forward_length"), Key("feed_forward_length")],
        "moe_intermediate_size" => [Key("expert_feed_forward_length")],
        "shared_expert_intermediate_size" => [Key("expert_shared_feed_forward_length")],
        "norm_topk_prob" => [Key("expert_weights_norm")],
        "rope_theta" => [Key("rope.freq_base")],
        "rms_norm_eps" => [Key("attention.layer_norm_rms_epsilon")],
        "max_position_embeddings" => [Key("context_length")],
        "bos_token_id" => ["tokenizer.ggml.bos_token_id"],
        "eos_token_id" => ["tokenizer.ggml.eos_token_id"],
        _ => [],
    };

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsFile)
        {
            _file.Dispose();
        }
    }

    private TensorSource Get(string name) =>
        _tensors.GetValueOrDefault(name) ?? throw new KeyNotFoundException($"{Source}: no tensor '{name}' (GGUF mapped to {ModelType} names).");

    private sealed record TensorSource(GgufTensorInfo Tensor, long FirstElement, long[] Shape, int PermuteHeads);

    private string Key(string suffix) => $"{Architecture}.{suffix}";

    private InvalidDataException Refuse(string why) => new($"{_file.Path}: cannot import this GGUF: {why}.");

    private long? Uniform(string suffix)
    {
        GgufValue? v = _file.Find(Key(suffix));
        if (v is null)
        {
            return null;
        }
        if (v.Type == GgufValueType.Array)
        {
            long[] values = v.AsInt64Array();
            if (values.Length == 0 || values.Any(x => x != values[0]))
            {
                throw Refuse($"{Key(suffix)} differs between layers ([{string.Join(", ", values)}])");
            }
            return values[0];
        }
        return v.AsInt64();
    }

    private long RequiredUniform(string suffix) => Uniform(suffix) ?? throw Refuse($"it has no {Key(suffix)}");

    private long Required(string suffix) =>
        _file.GetInteger(Key(suffix)) ?? throw Refuse($"it has no {Key(suffix)}");

    private JsonObject BuildConfig()
    {
        long hidden = Required("embedding_length");
        long layers = Required("block_count");
        long headDim = _file.GetInteger(Key("attention.key_length")) ?? hidden / _heads;
        long valueDim = _file.GetInteger(Key("attention.value_length")) ?? headDim;
        if (valueDim != headDim)
        {
            throw Refuse($"{Key("attention.value_length")} {valueDim} differs from the key length {headDim}");
        }
        if (_file.GetInteger(Key("rope.dimension_count")) is { } ropeDim && ropeDim != headDim)
        {
            throw Refuse($"partial rotary embedding ({Key("rope.dimension_count")} {ropeDim} < head dim {headDim})");
        }
        long experts = _file.GetInteger(Key("expert_count")) ?? 0;
        if (experts <= 0)
        {
            throw Refuse(Architecture == "llama"
                ? "it is a dense llama model (no llama.expert_count), not a Mixture-of-Experts"
                : $"it has no {Key("expert_count")}");
        }
        long used = Required("expert_used_count");
        if (_file.GetInteger(Key("expert_gating_func")) is { } gating && gating != 1)
        {
            throw Refuse($"{Key("expert_gating_func")} is {gating} (only softmax, 1, is supported)");
        }
        TokenizerIds ids = new(_file);
        long vocab = _file.GetInteger(Key("vocab_size"))
            ?? Tokenizer?.Tokens.Count
            ?? _file.FindTensor("token_embd.weight")?.Dimensions[1]
            ?? throw Refuse("its vocabulary size is unknown");

        var c = new JsonObject
        {
            ["architectures"] = new JsonArray(ModelType switch
            {
                "mixtral" => "MixtralForCausalLM",
                "qwen2_moe" => "Qwen2MoeForCausalLM",
                "qwen3_moe" => "Qwen3MoeForCausalLM",
                _ => "OlmoeForCausalLM",
            }),
            ["model_type"] = ModelType,
            ["vocab_size"] = vocab,
            ["hidden_size"] = hidden,
            ["num_hidden_layers"] = layers,
            ["num_attention_heads"] = _heads,
            ["num_key_value_heads"] = _kvHeads,
            ["head_dim"] = headDim,
            ["hidden_act"] = "silu",
            ["max_position_embeddings"] = _file.GetInteger(Key("context_length")) ?? throw Refuse($"it has no {Key("context_length")}"),
            ["rms_norm_eps"] = _file.GetNumber(Key("attention.layer_norm_rms_epsilon")) ?? throw Refuse($"it has no {Key("attention.layer_norm_rms_epsilon")}"),
            ["rope_theta"] = _file.GetNumber(Key("rope.freq_base")) ?? 10000.0,
            ["rope_scaling"] = RopeScaling(),
            ["tie_word_embeddings"] = _file.FindTensor("output.weight") is null,
            ["bos_token_id"] = ids.Bos,
            ["eos_token_id"] = ids.Eos,
            ["pad_token_id"] = ids.Pad,
            ["num_experts_per_tok"] = used,
        };
        long? ffn = _file.GetInteger(Key("feed_forward_length"));
        long? expertFfn = _file.GetInteger(Key("expert_feed_forward_length"));
        bool? normTopK = _file.GetBool(Key("expert_weights_norm"));
        long? window = _file.GetInteger(Key("attention.sliding_window"));
        switch (ModelType)
        {
            case "mixtral":
                // transformers' Mixtral always renormalises the top-k weights (no norm_topk_prob key), as llama.cpp does.
                if (normTopK == false)
                {
                    throw Refuse($"{Key("expert_weights_norm")} is false, but Mixtral renormalises its top-k weights");
                }
                c["intermediate_size"] = expertFfn ?? ffn ?? throw Refuse($"it has no {Key("feed_forward_length")}");
                c["num_local_experts"] = experts;
                c["sliding_window"] = window;
                break;
            case "qwen2_moe":
            case "qwen3_moe":
                if (ffn is not null)
                {
                    c["intermediate_size"] = ffn;
                }
                c["moe_intermediate_size"] = expertFfn ?? throw Refuse($"it has no {Key("expert_feed_forward_length")}");
                if (ModelType == "qwen2_moe")
                {
                    c["shared_expert_intermediate_size"] = _file.GetInteger(Key("expert_shared_feed_forward_length"))
                        ?? throw Refuse($"it has no {Key("expert_shared_feed_forward_length")}");
                }
                c["num_experts"] = experts;
                // llama.cpp does not renormalise Qwen2-MoE's top-k weights and does renormalise Qwen3-MoE's.
                c["norm_topk_prob"] = normTopK ?? (ModelType == "qwen3_moe");
                c["decoder_sparse_step"] = 1;
                c["mlp_only_layers"] = new JsonArray();
                c["use_sliding_window"] = window is not null;
                c["sliding_window"] = window;
                c["attention_bias"] = ModelType == "qwen2_moe";
                break;
            default: // olmoe
                c["intermediate_size"] = expertFfn ?? ffn ?? throw Refuse($"it has no {Key("feed_forward_length")}");
                c["num_experts"] = experts;
                c["norm_topk_prob"] = normTopK ?? false;
                c["clip_qkv"] = null;
                c["attention_bias"] = false;
                if (window is not null)
                {
                    throw Refuse($"olmoe with {Key("attention.sliding_window")}");
                }
                break;
        }
        // As if parsed from config.json text: numbers then convert to any CLR width (GetValue<int>,
        // (int) casts) as an HF directory's do, not only to the long/double they were built from.
        return JsonNode.Parse(c.ToJsonString())!.AsObject();
    }

    private JsonObject? RopeScaling()
    {
        string? type = _file.GetString(Key("rope.scaling.type"));
        double? factor = _file.GetNumber(Key("rope.scaling.factor"));
        double? linear = _file.GetNumber(Key("rope.scale_linear")); // the key older converters wrote
        if ((type is null or "none") && (linear is null or 1.0))
        {
            return null;
        }
        type = type is null or "none" ? "linear" : type;
        factor ??= linear ?? 1.0;
        var o = new JsonObject
        {
            ["rope_type"] = type,
            ["type"] = type,
            ["factor"] = factor,
        };
        if (_file.GetInteger(Key("rope.scaling.original_context_length")) is { } original)
        {
            o["original_max_position_embeddings"] = original;
        }
        if (_file.GetNumber(Key("rope.scaling.attn_factor")) is { } attn)
        {
            o["attention_factor"] = attn;
        }
        return o;
    }

    private readonly struct TokenizerIds(GgufFile file)
    {
        public long? Bos { get; } = file.GetInteger("tokenizer.ggml.bos_token_id");

        public long? Eos { get; } = file.GetInteger("tokenizer.ggml.eos_token_id");

        public long? Pad { get; } = file.GetInteger("tokenizer.ggml.padding_token_id");
    }

    [GeneratedRegex(@"^blk\.(\d+)\.(.+)$", RegexOptions.CultureInvariant)]
    private static partial Regex BlockName();

    [GeneratedRegex(@"^ffn_(gate|up|down)\.(\d+)\.weight$", RegexOptions.CultureInvariant)]
    private static partial Regex PerExpertName();

    private void MapTensors()
    {
        var unknown = new List<string>();
        long experts = (long)Config[ModelType == "mixtral" ? "num_local_experts" : "num_experts"]!;
        long layers = (long)Config["num_hidden_layers"]!;
        foreach (GgufTensorInfo t in _file.Tensors)
        {
            string? hf = null;
            switch (t.Name)
            {
                case "token_embd.weight": hf = "model.embed_tokens.weight"; break;
                case "output_norm.weight": hf = "model.norm.weight"; break;
                case "output.weight": hf = "lm_head.weight"; break;
            }
            if (hf is not null)
            {
                Add(hf, t, 0, t.TorchShape, 0);
                continue;
            }
            Match m = BlockName().Match(t.Name);
            if (!m.Success || !int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int layer) || layer >= layers)
            {
                unknown.Add(t.Name);
                continue;
            }
            string rest = m.Groups[2].Value;
            string p = $"model.layers.{layer}.";
            bool mixtral = ModelType == "mixtral";
            string moe = mixtral ? p + "block_sparse_moe." : p + "mlp.";
            switch (rest)
            {
                case "attn_norm.weight": Add(p + "input_layernorm.weight", t, 0, t.TorchShape, 0); continue;
                case "ffn_norm.weight": Add(p + "post_attention_layernorm.weight", t, 0, t.TorchShape, 0); continue;
                case "attn_q.weight":
                case "attn_q.bias":
                    Add(p + "self_attn.q_proj." + Suffix(rest), t, 0, t.TorchShape, mixtral ? _heads : 0); continue;
                case "attn_k.weight":
                case "attn_k.bias":
                    Add(p + "self_attn.k_proj." + Suffix(rest), t, 0, t.TorchShape, mixtral ? _kvHeads : 0); continue;
                case "attn_v.weight":
                case "attn_v.bias":
                    Add(p + "self_attn.v_proj." + Suffix(rest), t, 0, t.TorchShape, 0); continue;
                case "attn_output.weight":
                case "attn_output.bias":
                    Add(p + "self_attn.o_proj." + Suffix(rest), t, 0, t.TorchShape, 0); continue;
                case "attn_q_norm.weight" when !mixtral: Add(p + "self_attn.q_norm.weight", t, 0, t.TorchShape, 0); continue;
                case "attn_k_norm.weight" when !mixtral: Add(p + "self_attn.k_norm.weight", t, 0, t.TorchShape, 0); continue;
                case "ffn_gate_inp.weight": Add(moe + "gate.weight", t, 0, t.TorchShape, 0); continue;
                case "ffn_gate_exps.weight": AddExperts(moe, mixtral ? "w1" : "gate_proj", t, experts); continue;
                case "ffn_up_exps.weight": AddExperts(moe, mixtral ? "w3" : "up_proj", t, experts); continue;
                case "ffn_down_exps.weight": AddExperts(moe, mixtral ? "w2" : "down_proj", t, experts); continue;
                case "ffn_gate_shexp.weight" when ModelType == "qwen2_moe": Add(p + "mlp.shared_expert.gate_proj.weight", t, 0, t.TorchShape, 0); continue;
                case "ffn_up_shexp.weight" when ModelType == "qwen2_moe": Add(p + "mlp.shared_expert.up_proj.weight", t, 0, t.TorchShape, 0); continue;
                case "ffn_down_shexp.weight" when ModelType == "qwen2_moe": Add(p + "mlp.shared_expert.down_proj.weight", t, 0, t.TorchShape, 0); continue;
                case "ffn_gate_inp_shexp.weight" when ModelType == "qwen2_moe":
                    // HF nn.Linear(hidden, 1): [1, hidden]; the converter writes ne [hidden, 1] (or [hidden]).
                    Add(p + "mlp.shared_expert_gate.weight", t, 0, [1, t.ElementCount], 0); continue;
            }
            // Mixtral GGUFs from before stacked experts (2023) hold blk.N.ffn_gate.E.weight per expert.
            Match pe = PerExpertName().Match(rest);
            if (mixtral && pe.Success)
            {
                string w = pe.Groups[1].Value switch { "gate" => "w1", "down" => "w2", _ => "w3" };
                Add($"{moe}experts.{pe.Groups[2].Value}.{w}.weight", t, 0, t.TorchShape, 0);
                continue;
            }
            unknown.Add(t.Name);
        }
        if (unknown.Count > 0)
        {
            throw Refuse($"tensors with no {ModelType} counterpart: {string.Join(", ", unknown.Take(10))}{(unknown.Count > 10 ? $" (and {unknown.Count - 10} more)" : "")}");
        }
        foreach (GgufTensorInfo t in _file.Tensors)
        {
            if (!GgmlTypes.IsSupported(t.Type))
            {
                throw new NotSupportedException($"{Source}: tensor '{t.Name}': {GgmlTypes.Unsupported(t.Type).Message}");
            }
        }
    }

    private static string Suffix(string rest) => rest.EndsWith(".bias", StringComparison.Ordinal) ? "bias" : "weight";

    private void Add(string hfName, GgufTensorInfo t, long firstElement, long[] shape, int permuteHeads)
    {
        if (permuteHeads != 0 && (shape[0] % permuteHeads != 0 || shape[0] / permuteHeads % 2 != 0))
        {
            throw Refuse($"{t.Name} has {shape[0]} rows, not {permuteHeads} heads of an even size");
        }
        if (!_tensors.TryAdd(hfName, new TensorSource(t, firstElement, shape, permuteHeads)))
        {
            throw Refuse($"two tensors map to {hfName}");
        }
    }

    private void AddExperts(string prefix, string weight, GgufTensorInfo t, long experts)
    {
        // ne = [in, out, n_expert] is PyTorch [n_expert, out, in]: expert e is the e-th [out, in] slice.
        if (t.Dimensions.Count != 3 || t.Dimensions[2] != experts)
        {
            throw Refuse($"{t.Name} has dimensions [{string.Join(", ", t.Dimensions)}], expected [in, out, {experts}]");
        }
        long perExpert = t.Dimensions[0] * t.Dimensions[1];
        for (int e = 0; e < experts; e++)
        {
            Add($"{prefix}experts.{e}.{weight}.weight", t, e * perExpert, [t.Dimensions[1], t.Dimensions[0]], 0);
        }
    }
}
