using System.Text.Json.Nodes;
using MoeServe.Model.Gguf;
using MoeServe.Model.Import;

namespace MoeServe.TestSupport;

/// <summary>
/// Writes a GGUF from a Hugging Face checkpoint the way llama.cpp's convert_hf_to_gguf.py does for
/// Mixtral (architecture llama: q/k rows permuted for llama.cpp's RoPE, w1/w2/w3 stacked as
/// ffn_gate/down/up_exps), Qwen2-MoE (qwen2moe: q/k/v biases, shared expert and its sigmoid gate),
/// Qwen3-MoE (qwen3moe: per-head q/k norms) and OLMoE (olmoe: q/k norms over the whole projection,
/// rms eps written as 1e-5), with the converter's metadata keys and a gpt2 (byte-level BPE) tokenizer.
/// Test support: it proves the reader against an independent writer and feeds llama.cpp.
/// </summary>
public static class HfToGgufConverter
{
    /// <summary>The GGUF architecture llama.cpp uses for a transformers model_type.</summary>
    public static string ArchitectureOf(string modelType) => modelType switch
    {
        "mixtral" => "llama",
        "qwen2_moe" => "qwen2moe",
        "qwen3_moe" => "qwen3moe",
        "olmoe" => "olmoe",
        _ => throw new NotSupportedException($"model_type {modelType}"),
    };

    /// <summary>
    /// Converts <paramref name="hf"/> to <paramref name="path"/>. 2-D weights are stored as
    /// <paramref name="weightType"/> (F32, F16, BF16, Q8_0 or Q4_0; rows that are not whole blocks fall
    /// back to F16 as the converter does); norms, biases and routers stay F32 as the converter keeps them.
    /// </summary>
    public static void Convert(IHfCheckpoint hf, GgufTokenizerMetadata? tokenizer, string path, GgmlType weightType = GgmlType.F32, string name = "converted", bool permuteLlamaQk = true)
    {
        GgufWriter w = Build(hf, tokenizer, weightType, name, permuteLlamaQk);
        w.WriteTo(path);
    }

    /// <summary>Builds the writer (metadata and tensors) without writing it.</summary>
    /// <remarks><paramref name="permuteLlamaQk"/> false writes a deliberately wrong file (for negative controls).</remarks>
    public static GgufWriter Build(IHfCheckpoint hf, GgufTokenizerMetadata? tokenizer, GgmlType weightType = GgmlType.F32, string name = "converted", bool permuteLlamaQk = true)
    {
        JsonObject c = hf.Config;
        string modelType = (string)c["model_type"]!;
        string arch = ArchitectureOf(modelType);
        long Int(string key) => JsonNumber.Long(c[key]);
        long? OptInt(string key) => c[key] is JsonValue v ? JsonNumber.Long(v) : null;
        int heads = (int)Int("num_attention_heads");
        int kvHeads = (int)(OptInt("num_key_value_heads") ?? heads);
        long hidden = Int("hidden_size");
        long? headDim = OptInt("head_dim");
        int layers = (int)Int("num_hidden_layers");
        int experts = (int)(OptInt("num_local_experts") ?? Int("num_experts"));

        var w = new GgufWriter();
        w.AddString("general.architecture", arch);
        w.AddString("general.type", "model");
        w.AddString("general.name", name);
        w.AddUInt32("general.quantization_version", 2);
        // TextModel.set_gguf_parameters, in its order.
        w.AddUInt32($"{arch}.block_count", (uint)layers);
        w.AddUInt32($"{arch}.context_length", (uint)Int("max_position_embeddings"));
        w.AddUInt32($"{arch}.embedding_length", (uint)hidden);
        if (OptInt("intermediate_size") is { } ff)
        {
            w.AddUInt32($"{arch}.feed_forward_length", (uint)ff);
        }
        w.AddUInt32($"{arch}.attention.head_count", (uint)heads);
        w.AddUInt32($"{arch}.attention.head_count_kv", (uint)kvHeads);
        w.AddFloat32($"{arch}.rope.freq_base", (float)JsonNumber.Double(c["rope_theta"]));
        // OlmoeModel.set_gguf_parameters overwrites the eps with 1e-5.
        w.AddFloat32($"{arch}.attention.layer_norm_rms_epsilon", modelType == "olmoe" ? 1e-5f : (float)JsonNumber.Double(c["rms_norm_eps"]));
        w.AddUInt32($"{arch}.expert_count", (uint)experts);
        w.AddUInt32($"{arch}.expert_used_count", (uint)Int("num_experts_per_tok"));
        if (headDim is { } hd)
        {
            w.AddUInt32($"{arch}.attention.key_length", (uint)hd);
            w.AddUInt32($"{arch}.attention.value_length", (uint)hd);
        }
        w.AddUInt32("general.file_type", weightType switch
        {
            GgmlType.F32 => 0u,
            GgmlType.F16 => 1u,
            GgmlType.Q4_0 => 2u,
            GgmlType.Q8_0 => 7u,
            GgmlType.BF16 => 32u,
            _ => throw new NotSupportedException(weightType.ToString()),
        });
        switch (modelType)
        {
            case "mixtral":
                // LlamaModel.set_gguf_parameters.
                w.AddUInt32($"{arch}.vocab_size", (uint)Int("vocab_size"));
                w.AddUInt32($"{arch}.rope.dimension_count", (uint)(headDim ?? hidden / heads));
                break;
            case "qwen2_moe":
            case "qwen3_moe":
                w.AddUInt32($"{arch}.expert_feed_forward_length", (uint)Int("moe_intermediate_size"));
                if (modelType == "qwen2_moe")
                {
                    w.AddUInt32($"{arch}.expert_shared_feed_forward_length", (uint)Int("shared_expert_intermediate_size"));
                }
                break;
        }
        if (tokenizer is not null)
        {
            w.AddTokenizer(tokenizer);
        }

        float[] Read(string n)
        {
            long count = hf.Shape(n).Aggregate(1L, (a, b) => a * b);
            var data = new float[count];
            hf.ReadFloat32(n, data);
            return data;
        }
        bool isLlama = arch == "llama";
        bool permute = isLlama && permuteLlamaQk;
        void Tensor(string gguf, string hfName, bool keepF32 = false, int permuteHeads = 0)
        {
            long[] shape = hf.Shape(hfName).ToArray();
            float[] data = Read(hfName);
            if (permuteHeads != 0)
            {
                data = GgufWriter.PermuteLlamaRows(data, (int)shape[0], permuteHeads);
            }
            Store(w, gguf, shape, data, keepF32 || shape.Length == 1 ? GgmlType.F32 : weightType);
        }
        bool Has(string n) => hf.TensorNames.Contains(n);

        Tensor("token_embd.weight", "model.embed_tokens.weight");
        for (int l = 0; l < layers; l++)
        {
            string p = $"model.layers.{l}.";
            string b = $"blk.{l}.";
            Tensor(b + "attn_norm.weight", p + "input_layernorm.weight");
            foreach ((string g, string h, int perm) in new[] { ("attn_q", "q_proj", heads), ("attn_k", "k_proj", kvHeads), ("attn_v", "v_proj", 0), ("attn_output", "o_proj", 0) })
            {
                Tensor($"{b}{g}.weight", $"{p}self_attn.{h}.weight", permuteHeads: permute ? perm : 0);
                if (Has($"{p}self_attn.{h}.bias"))
                {
                    Tensor($"{b}{g}.bias", $"{p}self_attn.{h}.bias", permuteHeads: permute ? perm : 0);
                }
            }
            if (Has(p + "self_attn.q_norm.weight"))
            {
                Tensor(b + "attn_q_norm.weight", p + "self_attn.q_norm.weight");
                Tensor(b + "attn_k_norm.weight", p + "self_attn.k_norm.weight");
            }
            Tensor(b + "ffn_norm.weight", p + "post_attention_layernorm.weight");
            string moe = isLlama ? p + "block_sparse_moe." : p + "mlp.";
            Tensor(b + "ffn_gate_inp.weight", moe + "gate.weight", keepF32: true);
            (string Gguf, string Hf)[] stacks = isLlama
                ? [("ffn_gate_exps", "w1"), ("ffn_down_exps", "w2"), ("ffn_up_exps", "w3")]
                : [("ffn_down_exps", "down_proj"), ("ffn_gate_exps", "gate_proj"), ("ffn_up_exps", "up_proj")];
            foreach ((string g, string h) in stacks)
            {
                // torch.stack(datas, dim=0): [n_expert, out, in], ggml ne [in, out, n_expert].
                long[] one = hf.Shape($"{moe}experts.0.{h}.weight").ToArray();
                var stacked = new float[experts * one[0] * one[1]];
                for (int e = 0; e < experts; e++)
                {
                    Read($"{moe}experts.{e}.{h}.weight").CopyTo(stacked, e * one[0] * one[1]);
                }
                Store(w, $"{b}{g}.weight", [experts, one[0], one[1]], stacked, weightType);
            }
            if (Has(p + "mlp.shared_expert_gate.weight"))
            {
                Tensor(b + "ffn_gate_inp_shexp.weight", p + "mlp.shared_expert_gate.weight", keepF32: true);
                Tensor(b + "ffn_gate_shexp.weight", p + "mlp.shared_expert.gate_proj.weight");
                Tensor(b + "ffn_up_shexp.weight", p + "mlp.shared_expert.up_proj.weight");
                Tensor(b + "ffn_down_shexp.weight", p + "mlp.shared_expert.down_proj.weight");
            }
        }
        Tensor("output_norm.weight", "model.norm.weight");
        if (Has("lm_head.weight") && c["tie_word_embeddings"]?.GetValue<bool>() != true)
        {
            Tensor("output.weight", "lm_head.weight");
        }
        return w;
    }

    private static void Store(GgufWriter w, string name, long[] torchShape, float[] data, GgmlType type)
    {
        if (type != GgmlType.F32 && torchShape[^1] % GgmlTypes.BlockElements(type) != 0)
        {
            type = GgmlType.F16; // the converter's fallback when rows are not whole blocks
        }
        w.AddTensor(name, torchShape, data, type);
    }



    /// <summary>
    /// A gpt2 tokenizer from an HF directory's tokenizer.json and tokenizer_config.json, as
    /// _set_vocab_gpt2 builds it: tokens by id (holes as [PAD{i}], unused), added special tokens as
    /// control, other added tokens as user-defined, merges as "a b", special ids and add_bos from the config.
    /// </summary>
    public static GgufTokenizerMetadata TokenizerFromHfDirectory(string directory, int vocabSize, string pre = "gpt-2")
    {
        var tj = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(directory, "tokenizer.json")))!;
        var tc = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(directory, "tokenizer_config.json")))!;
        var tokens = new string?[vocabSize];
        var types = new int[vocabSize];
        foreach ((string token, JsonNode? id) in (JsonObject)tj["model"]!["vocab"]!)
        {
            tokens[(int)id!] = token;
            types[(int)id!] = GgufTokenType.Normal;
        }
        var byContent = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (JsonNode? added in (JsonArray)tj["added_tokens"]!)
        {
            int id = (int)added!["id"]!;
            string content = (string)added["content"]!;
            tokens[id] = content;
            types[id] = (bool)added["special"]! ? GgufTokenType.Control : GgufTokenType.UserDefined;
            byContent[content] = id;
        }
        for (int i = 0; i < vocabSize; i++)
        {
            if (tokens[i] is null)
            {
                tokens[i] = $"[PAD{i}]";
                types[i] = GgufTokenType.Unused;
            }
        }
        List<string> merges = [];
        foreach (JsonNode? m in (JsonArray)tj["model"]!["merges"]!)
        {
            merges.Add(m is JsonArray pair ? $"{(string)pair[0]!} {(string)pair[1]!}" : (string)m!);
        }
        int? Special(string key) => tc[key] is JsonValue v && v.TryGetValue(out string? s) && byContent.TryGetValue(s, out int id) ? id : null;
        bool? Flag(string key) => tc[key] is JsonValue v && v.TryGetValue(out bool b) ? b : null;
        return new GgufTokenizerMetadata
        {
            Model = "gpt2",
            Pre = pre,
            Tokens = tokens!,
            Merges = merges,
            TokenTypes = types,
            BosTokenId = Special("bos_token"),
            EosTokenId = Special("eos_token"),
            PaddingTokenId = Special("pad_token"),
            UnknownTokenId = Special("unk_token"),
            AddBosToken = Flag("add_bos_token"),
            AddEosToken = Flag("add_eos_token"),
            ChatTemplate = tc["chat_template"] is JsonValue ct ? (string)ct! : null,
        };
    }
}

/// <summary>JSON numbers whatever CLR type built them (int, long, double, or parsed text).</summary>
internal static class JsonNumber
{
    public static long Long(JsonNode? node) =>
        long.Parse(node?.ToJsonString() ?? throw new ArgumentNullException(nameof(node)), System.Globalization.CultureInfo.InvariantCulture);

    public static double Double(JsonNode? node) =>
        double.Parse(node?.ToJsonString() ?? throw new ArgumentNullException(nameof(node)), System.Globalization.CultureInfo.InvariantCulture);
}
