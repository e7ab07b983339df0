using System.Text;
using System.Text.Json.Nodes;
using MoeServe.Model;
using MoeServe.Model.Gguf;

namespace MoeServe.Import.Tests.Support;

/// <summary>
/// Tiny random MoE checkpoints with the transformers config keys and tensor names of each family,
/// and a tiny byte-level BPE tokenizer that llama.cpp accepts.
/// </summary>
public static class TinyMoe
{
    public const int Hidden = 64;
    public const int Heads = 4;
    public const int HeadDim = 16;
    public const int Layers = 2;
    public const int Experts = 4;
    public const int TopK = 2;
    public const int ExpertInter = 32;
    public const int SharedInter = 64;

    public static readonly string[] Families = ["mixtral", "qwen2_moe", "qwen3_moe", "olmoe"];

    /// <summary>The tokenizer: 256 byte tokens (GPT-2's byte-to-unicode), 4 merges, and &lt;|endoftext|&gt;.</summary>
    public static GgufTokenizerMetadata Tokenizer()
    {
        var tokens = new List<string>(ByteTokens());
        string[] merges = ["Ġ t", "t h", "h e", "Ġ a"];
        foreach (string m in merges)
        {
            tokens.Add(m.Replace(" ", "", StringComparison.Ordinal));
        }
        tokens.Add("<|endoftext|>");
        int[] types = tokens.Select((_, i) => i == tokens.Count - 1 ? GgufTokenType.Control : GgufTokenType.Normal).ToArray();
        int eos = tokens.Count - 1;
        return new GgufTokenizerMetadata { Model = "gpt2", Pre = "gpt-2", Tokens = tokens, Merges = merges, TokenTypes = types, BosTokenId = eos, EosTokenId = eos, AddBosToken = false, AddEosToken = false };
    }

    public static int VocabSize => 256 + 4 + 1;

    // GPT-2 bytes_to_unicode, in byte order.
    private static string[] ByteTokens()
    {
        var printable = new List<int>();
        for (int b = '!'; b <= '~'; b++)
        {
            printable.Add(b);
        }

        for (int b = 0xA1; b <= 0xAC; b++)
        {
            printable.Add(b);
        }

        for (int b = 0xAE; b <= 0xFF; b++)
        {
            printable.Add(b);
        }

        var map = new string[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            map[b] = printable.Contains(b) ? ((char)b).ToString() : ((char)(256 + n++)).ToString();
        }
        return map;
    }

    /// <summary>A random checkpoint of <paramref name="family"/> (a transformers model_type).</summary>
    public static InMemoryHfCheckpoint Create(string family, int seed, int hidden = Hidden, int expertInter = ExpertInter, int headDim = HeadDim, int? vocabSize = null)
    {
        int vocab = vocabSize ?? VocabSize;
        var rng = new Random(seed);
        int kvHeads = family == "olmoe" ? Heads : 2; // llama.cpp's olmoe wants k_norm over n_embd, so no GQA there
        var c = new JsonObject
        {
            ["model_type"] = family,
            ["vocab_size"] = vocab,
            ["hidden_size"] = hidden,
            ["num_hidden_layers"] = Layers,
            ["num_attention_heads"] = Heads,
            ["num_key_value_heads"] = kvHeads,
            ["max_position_embeddings"] = 256,
            ["rope_theta"] = family == "mixtral" ? 10000.0 : 1000000.0,
            ["rms_norm_eps"] = family == "olmoe" ? 1e-5 : 1e-6,
            ["num_experts_per_tok"] = TopK,
            ["tie_word_embeddings"] = family == "qwen3_moe", // one tied family, to cover the tied head
            ["hidden_act"] = "silu",
            ["bos_token_id"] = vocab - 1,
            ["eos_token_id"] = vocab - 1,
        };
        switch (family)
        {
            case "mixtral":
                c["head_dim"] = headDim;
                c["intermediate_size"] = expertInter;
                c["num_local_experts"] = Experts;
                c["sliding_window"] = null;
                break;
            case "qwen2_moe":
                c["intermediate_size"] = 96;
                c["moe_intermediate_size"] = expertInter;
                c["shared_expert_intermediate_size"] = SharedInter;
                c["num_experts"] = Experts;
                c["norm_topk_prob"] = false;
                c["decoder_sparse_step"] = 1;
                c["mlp_only_layers"] = new JsonArray();
                c["use_sliding_window"] = false;
                c["sliding_window"] = null;
                break;
            case "qwen3_moe":
                c["head_dim"] = headDim;
                c["intermediate_size"] = 96;
                c["moe_intermediate_size"] = expertInter;
                c["num_experts"] = Experts;
                c["norm_topk_prob"] = true;
                c["decoder_sparse_step"] = 1;
                c["mlp_only_layers"] = new JsonArray();
                c["use_sliding_window"] = false;
                c["sliding_window"] = null;
                break;
            case "olmoe":
                c["intermediate_size"] = expertInter;
                c["num_experts"] = Experts;
                c["norm_topk_prob"] = false;
                break;
        }
        var t = new Dictionary<string, FloatTensor>(StringComparer.Ordinal);
        // Weights scaled so that logits depend clearly on the input (as the shared fixture does).
        void Rand(string name, float scale, params int[] shape)
        {
            var data = new float[shape.Aggregate(1, (a, b) => a * b)];
            for (int i = 0; i < data.Length; i++)
            {
                data[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
            }
            t[name] = new FloatTensor(shape, data);
        }
        void Norm(string name, int n)
        {
            var data = new float[n];
            for (int i = 0; i < n; i++)
            {
                data[i] = (float)(0.8 + 0.4 * rng.NextDouble());
            }
            t[name] = new FloatTensor([n], data);
        }
        float w = 1.7f / MathF.Sqrt(hidden);
        Rand("model.embed_tokens.weight", 1f, vocab, hidden);
        bool mixtral = family == "mixtral";
        for (int l = 0; l < Layers; l++)
        {
            string p = $"model.layers.{l}.";
            Norm(p + "input_layernorm.weight", hidden);
            Norm(p + "post_attention_layernorm.weight", hidden);
            Rand(p + "self_attn.q_proj.weight", w, Heads * headDim, hidden);
            Rand(p + "self_attn.k_proj.weight", w, kvHeads * headDim, hidden);
            Rand(p + "self_attn.v_proj.weight", w, kvHeads * headDim, hidden);
            Rand(p + "self_attn.o_proj.weight", w, hidden, Heads * headDim);
            if (family == "qwen2_moe")
            {
                Rand(p + "self_attn.q_proj.bias", 0.3f, Heads * headDim);
                Rand(p + "self_attn.k_proj.bias", 0.3f, kvHeads * headDim);
                Rand(p + "self_attn.v_proj.bias", 0.3f, kvHeads * headDim);
            }
            if (family == "qwen3_moe")
            {
                Norm(p + "self_attn.q_norm.weight", headDim);
                Norm(p + "self_attn.k_norm.weight", headDim);
            }
            if (family == "olmoe")
            {
                Norm(p + "self_attn.q_norm.weight", Heads * headDim);
                Norm(p + "self_attn.k_norm.weight", kvHeads * headDim);
            }
            string moe = mixtral ? p + "block_sparse_moe." : p + "mlp.";
            Rand(moe + "gate.weight", 2f / MathF.Sqrt(hidden), Experts, hidden);
            for (int e = 0; e < Experts; e++)
            {
                string x = $"{moe}experts.{e}.";
                Rand(x + (mixtral ? "w1" : "gate_proj") + ".weight", w, expertInter, hidden);
                Rand(x + (mixtral ? "w3" : "up_proj") + ".weight", w, expertInter, hidden);
                Rand(x + (mixtral ? "w2" : "down_proj") + ".weight", 1.7f / MathF.Sqrt(expertInter), hidden, expertInter);
            }
            if (family == "qwen2_moe")
            {
                Rand(p + "mlp.shared_expert.gate_proj.weight", w, SharedInter, hidden);
                Rand(p + "mlp.shared_expert.up_proj.weight", w, SharedInter, hidden);
                Rand(p + "mlp.shared_expert.down_proj.weight", 1.7f / MathF.Sqrt(SharedInter), hidden, SharedInter);
                Rand(p + "mlp.shared_expert_gate.weight", w, 1, hidden);
            }
        }
        Norm("model.norm.weight", hidden);
        if (!(bool)c["tie_word_embeddings"]!)
        {
            Rand("lm_head.weight", 2f / MathF.Sqrt(hidden), vocab, hidden);
        }
        return new InMemoryHfCheckpoint($"tiny-{family}", c, t);
    }

    /// <summary>
    /// A SentencePiece-style (<c>llama</c>) tokenizer as Mixtral's GGUFs carry it: &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, the 256
    /// byte-fallback tokens &lt;0x00&gt;..&lt;0xFF&gt;, then pieces scored so that longer pieces win (llama.cpp merges by score).
    /// </summary>
    public static GgufTokenizerMetadata SentencePieceTokenizer()
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        var types = new List<int> { GgufTokenType.Unknown, GgufTokenType.Control, GgufTokenType.Control };
        var scores = new List<float> { 0, 0, 0 };
        for (int b = 0; b < 256; b++)
        {
            tokens.Add($"<0x{b:X2}>");
            types.Add(GgufTokenType.Byte);
            scores.Add(0);
        }

        string[] pieces =
        [
            "▁the", "▁a", "▁t", "he", "in", "▁in", "er", "at", "▁s", "▁c", "on", "▁o", "an", "▁th", "re", "or", "▁m", "es", "▁of",
            "▁", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z",
        ];
        for (int i = 0; i < pieces.Length; i++)
        {
            tokens.Add(pieces[i]);
            types.Add(GgufTokenType.Normal);
            scores.Add(-i);
        }

        return new GgufTokenizerMetadata
        {
            Model = "llama",
            Pre = "default",
            Tokens = tokens,
            TokenTypes = types,
            Scores = scores,
            BosTokenId = 1,
            EosTokenId = 2,
            UnknownTokenId = 0,
        };
    }

    /// <summary>Random token ids below the special token.</summary>
    public static int[] RandomTokens(int seed, int count)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => rng.Next(VocabSize - 1)).ToArray();
    }

    internal static string Describe(JsonObject c) => new StringBuilder().Append(c.ToJsonString()).ToString();
}
