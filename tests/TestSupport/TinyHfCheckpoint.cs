using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;

namespace MoeServe.TestSupport;

/// <summary>The Hugging Face MoE families the importer supports.</summary>
public enum HfFamily
{
    /// <summary>model_type mixtral: GQA, block_sparse_moe with w1/w2/w3, renormalised top-k, untied head.</summary>
    Mixtral,

    /// <summary>model_type qwen2_moe: q/k/v biases, shared expert with a sigmoid gate, norm_topk_prob false.</summary>
    Qwen2Moe,

    /// <summary>model_type qwen3_moe: per-head q/k RMSNorm, explicit head_dim, norm_topk_prob true.</summary>
    Qwen3Moe,

    /// <summary>model_type olmoe: q/k RMSNorm over the whole projection, norm_topk_prob false.</summary>
    Olmoe,
}

/// <summary>A tiny random checkpoint written as a Hugging Face directory, with the tensors kept for a reference forward.</summary>
/// <param name="Directory">The directory written.</param>
/// <param name="Family">Its family.</param>
/// <param name="Config">config.json as written.</param>
/// <param name="Tensors">Every tensor by transformers name: shape and float32 values (before any storage rounding).</param>
public sealed record TinyHfModel(string Directory, HfFamily Family, JsonObject Config, IReadOnlyDictionary<string, (long[] Shape, float[] Data)> Tensors);

/// <summary>
/// Writes tiny random MoE checkpoints in Hugging Face form (config.json with the family's real keys,
/// model.safetensors with transformers' tensor names and layouts, generation_config.json, a byte-level
/// tokenizer.json and tokenizer_config.json), one per family, for import tests and (later) llama.cpp
/// comparisons. Weights are scaled so that logits depend strongly on every part of the model.
/// </summary>
public static class TinyHfCheckpoint
{
    /// <summary>Vocabulary: 256 byte tokens, &lt;|endoftext|&gt; = 256, &lt;|im_start|&gt; = 257, &lt;|im_end|&gt; = 258, padded to 272.</summary>
    public const int VocabSize = 272;

    /// <summary>The end-of-text id of the tiny tokenizer.</summary>
    public const int EndOfTextId = 256;

    /// <summary>Writes a checkpoint of <paramref name="family"/> into <paramref name="directory"/>.</summary>
    /// <param name="family">The family.</param>
    /// <param name="directory">Created if needed.</param>
    /// <param name="seed">Seed of the weights.</param>
    /// <param name="dtype">Storage dtype of every tensor: "F32", "F16" or "BF16".</param>
    /// <param name="configEdit">Changes config.json before it is written (refusal tests).</param>
    /// <param name="fusedExperts">
    /// Store each layer's routed experts in transformers 5's fused 3D layout (<c>model.layers.L.mlp.experts.gate_up_proj</c>
    /// [E, 2h, d] and <c>down_proj</c> [E, d, h]) instead of per-expert tensors; <see cref="TinyHfModel.Tensors"/> keeps the per-expert names.
    /// </param>
    public static TinyHfModel Write(HfFamily family, string directory, int seed, string dtype = "F32", Action<JsonObject>? configEdit = null, bool fusedExperts = false)
    {
        System.IO.Directory.CreateDirectory(directory);
        var config = Config(family);
        configEdit?.Invoke(config);
        var tensors = Tensors(family, config, new Random(seed));
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        File.WriteAllText(Path.Combine(directory, "generation_config.json"), $$"""{"bos_token_id": {{EndOfTextId}}, "eos_token_id": [{{EndOfTextId}}, 258], "do_sample": false}""");
        WriteSafeTensors(Path.Combine(directory, "model.safetensors"), fusedExperts ? Fuse(family, config, tensors) : tensors, dtype);
        WriteTokenizer(directory);
        return new TinyHfModel(directory, family, config, tensors);
    }

    /// <summary>config.json of the family (real transformers keys) before any edit.</summary>
    /// <param name="family">The family.</param>
    public static JsonObject Config(HfFamily family)
    {
        var c = new JsonObject
        {
            ["vocab_size"] = VocabSize,
            ["hidden_size"] = 32,
            ["num_hidden_layers"] = 2,
            ["num_attention_heads"] = 4,
            ["num_key_value_heads"] = 2,
            ["hidden_act"] = "silu",
            ["max_position_embeddings"] = 128,
            ["rms_norm_eps"] = 1e-6,
            ["rope_scaling"] = null,
            ["bos_token_id"] = EndOfTextId,
            ["eos_token_id"] = EndOfTextId,
            ["num_experts_per_tok"] = 2,
            ["torch_dtype"] = "float32",
        };
        switch (family)
        {
            case HfFamily.Mixtral:
                c["architectures"] = new JsonArray("MixtralForCausalLM");
                c["model_type"] = "mixtral";
                c["num_local_experts"] = 4;
                c["intermediate_size"] = 24;
                c["rope_theta"] = 1e6;
                c["tie_word_embeddings"] = false;
                c["sliding_window"] = null;
                c["head_dim"] = 8;
                break;
            case HfFamily.Qwen2Moe:
                c["architectures"] = new JsonArray("Qwen2MoeForCausalLM");
                c["model_type"] = "qwen2_moe";
                c["num_experts"] = 4;
                c["moe_intermediate_size"] = 16;
                c["shared_expert_intermediate_size"] = 40;
                c["intermediate_size"] = 64;
                c["norm_topk_prob"] = false;
                c["decoder_sparse_step"] = 1;
                c["mlp_only_layers"] = new JsonArray();
                c["use_sliding_window"] = false;
                c["sliding_window"] = 128;
                c["max_window_layers"] = 2;
                c["rope_theta"] = 10000.0;
                c["tie_word_embeddings"] = true;
                break;
            case HfFamily.Qwen3Moe:
                c["architectures"] = new JsonArray("Qwen3MoeForCausalLM");
                c["model_type"] = "qwen3_moe";
                c["num_experts"] = 4;
                c["moe_intermediate_size"] = 16;
                c["intermediate_size"] = 64;
                c["head_dim"] = 16; // != hidden / heads = 8
                c["norm_topk_prob"] = true;
                c["decoder_sparse_step"] = 1;
                c["mlp_only_layers"] = new JsonArray();
                c["use_sliding_window"] = false;
                c["sliding_window"] = null;
                c["attention_bias"] = false;
                c["rope_theta"] = 1e6;
                c["tie_word_embeddings"] = false;
                break;
            default:
                c["architectures"] = new JsonArray("OlmoeForCausalLM");
                c["model_type"] = "olmoe";
                c["num_experts"] = 4;
                c["intermediate_size"] = 16;
                c["norm_topk_prob"] = false;
                c["attention_bias"] = false;
                c["clip_qkv"] = null;
                c["rms_norm_eps"] = 1e-5;
                c["rope_theta"] = 10000.0;
                c["tie_word_embeddings"] = false;
                break;
        }

        return c;
    }

    private static Dictionary<string, (long[] Shape, float[] Data)> Tensors(HfFamily family, JsonObject c, Random random)
    {
        int d = (int)c["hidden_size"]!;
        int heads = (int)c["num_attention_heads"]!;
        int kvHeads = (int)c["num_key_value_heads"]!;
        int hd = family == HfFamily.Olmoe ? d / heads : c["head_dim"] is { } h ? (int)h : d / heads;
        int v = (int)c["vocab_size"]!;
        int layers = (int)c["num_hidden_layers"]!;
        int experts = (int)(c["num_local_experts"] ?? c["num_experts"])!;
        int inter = (int)(family is HfFamily.Mixtral or HfFamily.Olmoe ? c["intermediate_size"] : c["moe_intermediate_size"])!;
        var t = new Dictionary<string, (long[], float[])>(StringComparer.Ordinal);
        void Linear(string name, int rows, int cols, double scale) => t[name] = ([rows, cols], Uniform(random, rows * cols, scale / Math.Sqrt(cols)));
        void Norm(string name, int n) => t[name] = ([n], Enumerable.Range(0, n).Select(_ => (float)(1 + (0.3 * ((random.NextDouble() * 2) - 1)))).ToArray());
        void Bias(string name, int n) => t[name] = ([n], Uniform(random, n, 0.5));

        t["model.embed_tokens.weight"] = ([v, d], Uniform(random, v * d, 1.0));
        string moe = family == HfFamily.Mixtral ? "block_sparse_moe" : "mlp";
        for (int l = 0; l < layers; l++)
        {
            string p = $"model.layers.{l}.";
            Norm(p + "input_layernorm.weight", d);
            Norm(p + "post_attention_layernorm.weight", d);
            Linear(p + "self_attn.q_proj.weight", heads * hd, d, 2.0);
            Linear(p + "self_attn.k_proj.weight", kvHeads * hd, d, 2.0);
            Linear(p + "self_attn.v_proj.weight", kvHeads * hd, d, 1.5);
            Linear(p + "self_attn.o_proj.weight", d, heads * hd, 1.5);
            if (family == HfFamily.Qwen2Moe)
            {
                Bias(p + "self_attn.q_proj.bias", heads * hd);
                Bias(p + "self_attn.k_proj.bias", kvHeads * hd);
                Bias(p + "self_attn.v_proj.bias", kvHeads * hd);
            }

            if (family == HfFamily.Qwen3Moe)
            {
                Norm(p + "self_attn.q_norm.weight", hd);
                Norm(p + "self_attn.k_norm.weight", hd);
            }

            if (family == HfFamily.Olmoe)
            {
                Norm(p + "self_attn.q_norm.weight", heads * hd);
                Norm(p + "self_attn.k_norm.weight", kvHeads * hd);
            }

            Linear(p + moe + ".gate.weight", experts, d, 3.0);
            for (int j = 0; j < experts; j++)
            {
                string e = $"{p}{moe}.experts.{j}.";
                if (family == HfFamily.Mixtral)
                {
                    Linear(e + "w1.weight", inter, d, 2.0);
                    Linear(e + "w3.weight", inter, d, 2.0);
                    Linear(e + "w2.weight", d, inter, 2.0);
                }
                else
                {
                    Linear(e + "gate_proj.weight", inter, d, 2.0);
                    Linear(e + "up_proj.weight", inter, d, 2.0);
                    Linear(e + "down_proj.weight", d, inter, 2.0);
                }
            }

            if (family == HfFamily.Qwen2Moe)
            {
                int shared = (int)c["shared_expert_intermediate_size"]!;
                Linear(p + "mlp.shared_expert.gate_proj.weight", shared, d, 2.0);
                Linear(p + "mlp.shared_expert.up_proj.weight", shared, d, 2.0);
                Linear(p + "mlp.shared_expert.down_proj.weight", d, shared, 2.0);
                Linear(p + "mlp.shared_expert_gate.weight", 1, d, 3.0);
            }
        }

        Norm("model.norm.weight", d);
        if (c["tie_word_embeddings"]?.GetValue<bool>() != true)
        {
            Linear("lm_head.weight", v, d, 4.0);
        }

        return t;
    }

    private static Dictionary<string, (long[] Shape, float[] Data)> Fuse(HfFamily family, JsonObject c, Dictionary<string, (long[] Shape, float[] Data)> tensors)
    {
        int layers = (int)c["num_hidden_layers"]!;
        int experts = (int)(c["num_local_experts"] ?? c["num_experts"])!;
        string moe = family == HfFamily.Mixtral ? "block_sparse_moe" : "mlp";
        (string Gate, string Up, string Down) names = family == HfFamily.Mixtral ? ("w1", "w3", "w2") : ("gate_proj", "up_proj", "down_proj");
        var result = new Dictionary<string, (long[], float[])>(StringComparer.Ordinal);
        foreach (var (name, value) in tensors)
        {
            if (!name.Contains(".experts.", StringComparison.Ordinal))
            {
                result[name] = value;
            }
        }

        for (int l = 0; l < layers; l++)
        {
            var gateUp = new List<float>();
            var down = new List<float>();
            long h = 0;
            long d = 0;
            for (int j = 0; j < experts; j++)
            {
                string e = $"model.layers.{l}.{moe}.experts.{j}.";
                var gate = tensors[e + names.Gate + ".weight"];
                (h, d) = (gate.Shape[0], gate.Shape[1]);
                gateUp.AddRange(gate.Data);
                gateUp.AddRange(tensors[e + names.Up + ".weight"].Data);
                down.AddRange(tensors[e + names.Down + ".weight"].Data);
            }

            result[$"model.layers.{l}.mlp.experts.gate_up_proj"] = ([experts, 2 * h, d], gateUp.ToArray());
            result[$"model.layers.{l}.mlp.experts.down_proj"] = ([experts, d, h], down.ToArray());
        }

        return result;
    }

    private static float[] Uniform(Random random, int count, double scale)
    {
        // Uniform in [-a, a) with a = scale * sqrt(3): standard deviation `scale`.
        double a = scale * Math.Sqrt(3);
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = (float)(((random.NextDouble() * 2) - 1) * a);
        }

        return values;
    }

    /// <summary>Writes a safetensors file in F32, F16 or BF16 (names sorted, as the safetensors library does).</summary>
    /// <param name="path">The file.</param>
    /// <param name="tensors">Tensors by name.</param>
    /// <param name="dtype">"F32", "F16" or "BF16".</param>
    public static void WriteSafeTensors(string path, IReadOnlyDictionary<string, (long[] Shape, float[] Data)> tensors, string dtype)
    {
        int width = dtype == "F32" ? 4 : 2;
        var names = tensors.Keys.Order(StringComparer.Ordinal).ToList();
        var header = new JsonObject { ["__metadata__"] = new JsonObject { ["format"] = "pt" } };
        long offset = 0;
        foreach (string name in names)
        {
            long bytes = tensors[name].Data.Length * (long)width;
            header[name] = new JsonObject
            {
                ["dtype"] = dtype,
                ["shape"] = new JsonArray(tensors[name].Shape.Select(s => (JsonNode)s).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }

        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;
        using var stream = File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
        stream.Write(length);
        stream.Write(json);
        for (int i = json.Length; i < padded; i++)
        {
            stream.WriteByte((byte)' ');
        }

        foreach (string name in names)
        {
            float[] data = tensors[name].Data;
            byte[] buffer = new byte[data.Length * width];
            for (int i = 0; i < data.Length; i++)
            {
                switch (dtype)
                {
                    case "F32":
                        BinaryPrimitives.WriteSingleLittleEndian(buffer.AsSpan(i * 4), data[i]);
                        break;
                    case "F16":
                        BinaryPrimitives.WriteHalfLittleEndian(buffer.AsSpan(i * 2), (Half)data[i]);
                        break;
                    default: // BF16, round to nearest even
                        uint bits = BitConverter.SingleToUInt32Bits(data[i]);
                        bits += 0x7FFF + ((bits >> 16) & 1);
                        BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(i * 2), (ushort)(bits >> 16));
                        break;
                }
            }

            stream.Write(buffer);
        }
    }

    /// <summary>The float32 value a stored tensor holds after rounding to <paramref name="dtype"/>.</summary>
    /// <param name="value">The float32 value.</param>
    /// <param name="dtype">"F32", "F16" or "BF16".</param>
    public static float Stored(float value, string dtype)
    {
        switch (dtype)
        {
            case "F32":
                return value;
            case "F16":
                return (float)(Half)value;
            default:
                uint bits = BitConverter.SingleToUInt32Bits(value);
                bits += 0x7FFF + ((bits >> 16) & 1);
                return BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000u);
        }
    }

    // A byte-level BPE tokenizer.json with no merges: every byte is a token (GPT-2's byte-to-unicode
    // alphabet), plus three special tokens. Enough to encode and decode any text.
    private static void WriteTokenizer(string directory)
    {
        var vocab = new JsonObject();
        var alphabet = ByteAlphabet();
        for (int b = 0; b < 256; b++)
        {
            vocab[alphabet[b].ToString()] = b;
        }

        string[] specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
        var added = new JsonArray();
        for (int i = 0; i < specials.Length; i++)
        {
            added.Add(new JsonObject { ["id"] = 256 + i, ["content"] = specials[i], ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true });
        }

        var tokenizer = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = added,
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = @"'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+" }, ["behavior"] = "Isolated", ["invert"] = false },
                    new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false }),
            },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject { ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["fuse_unk"] = false, ["byte_fallback"] = false, ["vocab"] = vocab, ["merges"] = new JsonArray() },
        };
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), tokenizer.ToJsonString());
        File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), """
            {"add_bos_token": false, "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "tokenizer_class": "PreTrainedTokenizerFast",
             "chat_template": "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"}
            """);
    }

    /// <summary>GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to 256 + n.</summary>
    public static char[] ByteAlphabet()
    {
        var map = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)(256 + n++);
        }

        return map;
    }
}
