using System.Buffers.Binary;
using System.Text;

namespace MoeServe.Model.Gguf;

/// <summary>The dimensions of a synthetic OLMoE-architecture checkpoint.</summary>
/// <param name="Name">The shape's name on the command line.</param>
/// <param name="Hidden">hidden_size (embedding_length).</param>
/// <param name="Layers">num_hidden_layers.</param>
/// <param name="Heads">Attention heads (head_dim = hidden / heads, as OLMoE defines it).</param>
/// <param name="KeyValueHeads">Key/value heads.</param>
/// <param name="Experts">Experts per layer.</param>
/// <param name="TopK">Experts per token.</param>
/// <param name="ExpertHidden">intermediate_size of each expert.</param>
/// <param name="VocabSize">Vocabulary (embedding and head rows).</param>
/// <param name="ContextLength">max_position_embeddings.</param>
public sealed record SyntheticMoeShape(string Name, int Hidden, int Layers, int Heads, int KeyValueHeads, int Experts, int TopK, int ExpertHidden, int VocabSize, int ContextLength)
{
    /// <summary>allenai/OLMoE-1B-7B-0924's config.json: 6.9B parameters, 1.3B active per token.</summary>
    public static SyntheticMoeShape Olmoe1B7B { get; } = new("olmoe-1b-7b", 2048, 16, 16, 16, 64, 8, 1024, 50304, 4096);

    /// <summary>The same structure (16 heads, top-8 of 64 experts, untied head) at a size a test imports in a second.</summary>
    public static SyntheticMoeShape Tiny { get; } = new("tiny", 128, 2, 4, 4, 16, 4, 64, 512, 256);

    /// <summary>The shapes by name.</summary>
    public static IReadOnlyList<SyntheticMoeShape> All { get; } = [Olmoe1B7B, Tiny];

    /// <summary>Head dimension.</summary>
    public int HeadDim => Hidden / Heads;

    /// <summary>Parameters of the checkpoint (embedding and head included).</summary>
    public long Parameters => (2L * VocabSize * Hidden) + Hidden + (Layers * (AttentionParameters + RouterParameters + (Experts * ExpertParameters) + (2L * Hidden) + Hidden + (KeyValueHeads * HeadDim)));

    /// <summary>Q, K, V and O weights of one layer.</summary>
    public long AttentionParameters => (2L * Hidden * Hidden) + (2L * Hidden * KeyValueHeads * HeadDim);

    /// <summary>The router gate of one layer.</summary>
    public long RouterParameters => (long)Experts * Hidden;

    /// <summary>One expert's gate, up and down weights.</summary>
    public long ExpertParameters => 3L * Hidden * ExpertHidden;
}

/// <summary>Progress of <see cref="SyntheticMoeGguf.Write"/>: after each tensor written.</summary>
/// <param name="Tensor">The tensor just written.</param>
/// <param name="Index">Its index (0-based).</param>
/// <param name="Count">Tensors in the file.</param>
/// <param name="BytesWritten">Tensor bytes written so far.</param>
/// <param name="TotalBytes">Tensor bytes of the file.</param>
public sealed record SyntheticMoeProgress(string Tensor, int Index, int Count, long BytesWritten, long TotalBytes);

/// <summary>
/// Writes an OLMoE-architecture GGUF with random weights, laid out as llama.cpp's convert_hf_to_gguf.py lays out
/// OLMoE (architecture <c>olmoe</c>: attn_q_norm/attn_k_norm over the whole projection, stacked
/// ffn_{gate,up,down}_exps, softmax routing without top-k renormalisation), so a 7B-parameter model can be
/// imported and benchmarked on a machine without its download. The expert and Q/K/V/O matrices are written
/// directly as random Q8_0 or Q4_0 blocks (random codes, random float16 scales; no float round trip: these are
/// the bytes the lossless import copies), and so is the untied head; token embeddings are F16, norms and router F32.
/// Scales make each weight's RMS about 1/sqrt(fan_in), so after every RMSNorm the activations stay near 1 and
/// the logits finite through the 16 layers; a scale's sign is random too, because Q4_0's codes are biased
/// (mean -0.5 d). The vocabulary is a synthetic byte-level BPE (gpt2 model, <c>olmo</c> pre-tokenizer): the
/// 256 bytes, then merges of byte pairs (lower-case letters and space first) up to the vocabulary size less
/// one, then <c>&lt;|endoftext|&gt;</c> as BOS/EOS. Everything derives from the seed: the same arguments
/// give the same bytes.
/// </summary>
public static class SyntheticMoeGguf
{
    private const string Arch = "olmoe";

    /// <summary>Writes the checkpoint of <paramref name="shape"/> to <paramref name="path"/>.</summary>
    /// <param name="shape">The dimensions.</param>
    /// <param name="weightType">Q8_0 or Q4_0 for the expert and attention matrices.</param>
    /// <param name="path">The GGUF to write (replaced).</param>
    /// <param name="seed">Seed of every random byte.</param>
    /// <param name="progress">Told after each tensor.</param>
    public static void Write(SyntheticMoeShape shape, GgmlType weightType, string path, int seed, IProgress<SyntheticMoeProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentException.ThrowIfNullOrEmpty(path);
        Build(shape, weightType, seed, progress).WriteTo(path);
    }

    /// <summary>The writer of <see cref="Write"/> (tensor bytes are made while it writes).</summary>
    public static GgufWriter Build(SyntheticMoeShape shape, GgmlType weightType, int seed, IProgress<SyntheticMoeProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (weightType is not (GgmlType.Q8_0 or GgmlType.Q4_0))
        {
            throw new ArgumentOutOfRangeException(nameof(weightType), weightType, "Synthetic checkpoints are written with Q8_0 or Q4_0 blocks.");
        }

        if (shape.Hidden % 32 != 0 || shape.ExpertHidden % 32 != 0 || shape.Hidden % shape.Heads != 0 || shape.Heads % shape.KeyValueHeads != 0 || shape.VocabSize < 257)
        {
            throw new ArgumentException($"Shape {shape.Name}: hidden and expert hidden must be multiples of 32, heads must divide hidden, kv heads the heads, and the vocabulary hold at least the 256 bytes and <|endoftext|>.", nameof(shape));
        }

        int d = shape.Hidden;
        int kv = shape.KeyValueHeads * shape.HeadDim;
        var w = new GgufWriter();
        w.AddString("general.architecture", Arch);
        w.AddString("general.type", "model");
        w.AddString("general.name", $"synthetic {shape.Name} (random weights, seed {seed})");
        w.AddUInt32("general.quantization_version", 2);
        w.AddUInt32("general.file_type", weightType == GgmlType.Q8_0 ? 7u : 2u); // LLAMA_FTYPE_MOSTLY_Q8_0 / MOSTLY_Q4_0
        w.AddUInt32($"{Arch}.context_length", (uint)shape.ContextLength);
        w.AddUInt32($"{Arch}.embedding_length", (uint)d);
        w.AddUInt32($"{Arch}.block_count", (uint)shape.Layers);
        w.AddUInt32($"{Arch}.feed_forward_length", (uint)shape.ExpertHidden);
        w.AddUInt32($"{Arch}.expert_feed_forward_length", (uint)shape.ExpertHidden);
        w.AddUInt32($"{Arch}.attention.head_count", (uint)shape.Heads);
        w.AddUInt32($"{Arch}.attention.head_count_kv", (uint)shape.KeyValueHeads);
        w.AddFloat32($"{Arch}.rope.freq_base", 10000f);
        w.AddFloat32($"{Arch}.attention.layer_norm_rms_epsilon", 1e-5f);
        w.AddUInt32($"{Arch}.expert_count", (uint)shape.Experts);
        w.AddUInt32($"{Arch}.expert_used_count", (uint)shape.TopK);
        w.AddUInt32($"{Arch}.vocab_size", (uint)shape.VocabSize);
        w.AddTokenizer(Tokenizer(shape.VocabSize));

        var tensors = new List<(string Name, long[] Ne, GgmlType Type, Func<byte[]> Make)>();
        void Quantized(string name, long[] ne, int fanIn, int stream) => tensors.Add((name, ne, weightType, () => RandomBlocks(weightType, ne.Aggregate(1L, (a, b) => a * b), fanIn, Seed(seed, stream))));
        void Ones(string name, long length) => tensors.Add((name, [length], GgmlType.F32, () => GgufWriter.Encode(GgmlType.F32, Enumerable.Repeat(1f, (int)length).ToArray())));

        int stream = 0;
        tensors.Add(("token_embd.weight", [d, shape.VocabSize], GgmlType.F16, Float16(d * (long)shape.VocabSize, 1f, Seed(seed, stream++))));
        Ones("output_norm.weight", d);
        Quantized("output.weight", [d, shape.VocabSize], d, stream++);
        for (int l = 0; l < shape.Layers; l++)
        {
            string b = $"blk.{l}.";
            Ones(b + "attn_norm.weight", d);
            Quantized(b + "attn_q.weight", [d, d], d, stream++);
            Quantized(b + "attn_k.weight", [d, kv], d, stream++);
            Quantized(b + "attn_v.weight", [d, kv], d, stream++);
            Quantized(b + "attn_output.weight", [d, d], d, stream++);
            Ones(b + "attn_q_norm.weight", d);
            Ones(b + "attn_k_norm.weight", kv);
            Ones(b + "ffn_norm.weight", d);
            int routerStream = stream++;
            tensors.Add((b + "ffn_gate_inp.weight", [d, shape.Experts], GgmlType.F32, () => RandomFloat32((long)d * shape.Experts, 1 / MathF.Sqrt(d), Seed(seed, routerStream))));
            Quantized(b + "ffn_gate_exps.weight", [d, shape.ExpertHidden, shape.Experts], d, stream++);
            Quantized(b + "ffn_up_exps.weight", [d, shape.ExpertHidden, shape.Experts], d, stream++);
            Quantized(b + "ffn_down_exps.weight", [shape.ExpertHidden, d, shape.Experts], shape.ExpertHidden, stream++);
        }

        long total = tensors.Sum(t => GgmlTypes.ByteCount(t.Type, t.Ne.Aggregate(1L, (a, b) => a * b)));
        long written = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            var (name, ne, type, make) = tensors[i];
            int index = i;
            w.AddTensor(name, ne, type, () =>
            {
                byte[] bytes = make();
                written += bytes.Length;

                // Reported before the bytes are written out: close enough for a progress line, and it needs no writer hook.
                progress?.Report(new SyntheticMoeProgress(name, index, tensors.Count, written, total));
                return bytes;
            });
        }

        return w;
    }

    /// <summary>The synthetic byte-level BPE vocabulary of <paramref name="vocabSize"/> tokens (see the class).</summary>
    public static GgufTokenizerMetadata Tokenizer(int vocabSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabSize, 257);
        var tokens = new List<string>(vocabSize);
        for (int b = 0; b < 256; b++)
        {
            tokens.Add(ByteLevelAlphabet.ToChar((byte)b).ToString());
        }

        // Byte pairs in order of a rough English priority, so text is cut into pairs rather than bytes.
        byte[] order = Encoding.ASCII.GetBytes("etaoinshrdlucmfwypvbgkjqxz ETAOINSHRDLUCMFWYPVBGKJQXZ.,'\"-?!:;()0123456789\n")
            .Concat(Enumerable.Range(0, 256).Select(i => (byte)i)).Distinct().ToArray();
        var merges = new List<string>(vocabSize);
        for (int i = 0; i < order.Length && tokens.Count < vocabSize - 1; i++)
        {
            for (int j = 0; j < order.Length && tokens.Count < vocabSize - 1; j++)
            {
                string left = ByteLevelAlphabet.ToChar(order[i]).ToString();
                string right = ByteLevelAlphabet.ToChar(order[j]).ToString();
                merges.Add(left + " " + right);
                tokens.Add(left + right);
            }
        }

        int endOfText = tokens.Count;
        tokens.Add("<|endoftext|>");
        var types = Enumerable.Repeat(GgufTokenType.Normal, vocabSize).ToArray();
        types[endOfText] = GgufTokenType.Control;
        return new GgufTokenizerMetadata
        {
            Model = "gpt2",
            Pre = "olmo",
            Tokens = tokens,
            TokenTypes = types,
            Merges = merges,
            BosTokenId = endOfText,
            EosTokenId = endOfText,
            PaddingTokenId = endOfText,
            AddBosToken = false,
        };
    }

    // One independent stream per tensor, so a tensor's bytes do not depend on the order they are made in.
    private static ulong Seed(int seed, int stream) => SplitMix64.Mix(((ulong)(uint)seed << 32) ^ (ulong)(uint)stream ^ 0x5DEECE66DUL);

    /// <summary>
    /// Random Q8_0 or Q4_0 blocks of <paramref name="elements"/> weights whose RMS is about 1/sqrt(fanIn): codes
    /// uniform (Q8_0 -127..127, Q4_0 0..15, i.e. -8..7), float16 scale of random sign and magnitude 0.75-1.25x the
    /// one that gives that RMS. Blocks are made in parallel slices, each slice its own stream (deterministic).
    /// </summary>
    public static byte[] RandomBlocks(GgmlType type, long elements, int fanIn, ulong seed)
    {
        int blockBytes = GgmlTypes.BlockBytes(type);
        long blocks = elements / 32;
        var bytes = new byte[checked((int)GgmlTypes.ByteCount(type, elements))];

        // RMS of a code: Q8_0 uniform -127..127 is sqrt(127*128/3) = 73.6; Q4_0's (q - 8) over 0..15 is sqrt(21.5) = 4.64.
        float codeRms = type == GgmlType.Q8_0 ? 73.6f : 4.64f;
        float scale = 1 / (MathF.Sqrt(fanIn) * codeRms);
        const long SliceBlocks = 1 << 16;
        long slices = (blocks + SliceBlocks - 1) / SliceBlocks;
        Parallel.For(0, slices, slice =>
        {
            var random = new SplitMix64(SplitMix64.Mix(seed + (ulong)slice));
            long end = Math.Min(blocks, (slice + 1) * SliceBlocks);
            for (long block = slice * SliceBlocks; block < end; block++)
            {
                Span<byte> y = bytes.AsSpan(checked((int)(block * blockBytes)), blockBytes);
                ulong r = random.Next();
                float magnitude = scale * (0.75f + (0.5f * (r & 0xFFFF) / 65535f));
                BinaryPrimitives.WriteHalfLittleEndian(y, (Half)((r & 0x10000) != 0 ? magnitude : -magnitude));
                Span<byte> codes = y[2..];
                for (int j = 0; j < codes.Length; j += 8)
                {
                    BinaryPrimitives.WriteUInt64LittleEndian(codes[j..], random.Next());
                }

                if (type == GgmlType.Q8_0)
                {
                    // -128 is a code ggml's quantizer never makes (it rounds to +-127): keep to what real files hold.
                    for (int j = 0; j < codes.Length; j++)
                    {
                        if (codes[j] == 0x80)
                        {
                            codes[j] = 0x81;
                        }
                    }
                }
            }
        });
        return bytes;
    }

    private static Func<byte[]> Float16(long elements, float rms, ulong seed) => () =>
    {
        var bytes = new byte[checked((int)(2 * elements))];
        var random = new SplitMix64(seed);

        // Uniform on [-a, a] has RMS a / sqrt(3).
        float a = rms * MathF.Sqrt(3);
        for (long i = 0; i < elements; i++)
        {
            BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan((int)(2 * i)), (Half)(a * random.NextSymmetric()));
        }

        return bytes;
    };

    private static byte[] RandomFloat32(long elements, float rms, ulong seed)
    {
        var values = new float[elements];
        var random = new SplitMix64(seed);
        float a = rms * MathF.Sqrt(3);
        for (long i = 0; i < elements; i++)
        {
            values[i] = a * random.NextSymmetric();
        }

        return GgufWriter.Encode(GgmlType.F32, values);
    }

    // SplitMix64: a small, fast generator whose output depends only on its seed (System.Random's seeded form is slow).
    private sealed class SplitMix64(ulong state)
    {
        private ulong _state = state;

        public ulong Next() => Mix(_state += 0x9E3779B97F4A7C15UL);

        // Uniform on [-1, 1).
        public float NextSymmetric() => ((Next() >> 40) / (float)(1 << 23)) - 1f;

        public static ulong Mix(ulong z)
        {
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
