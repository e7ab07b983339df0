using Microsoft.ML.OnnxRuntime;
using MoeServe.Model;
using MoeServe.Runtime.Kernels;
using MoeServe.Runtime.Sessions;
using Onnx;

namespace MoeServe.Runtime;

/// <summary>
/// The dense graphs (embed, qkv, post, head) in managed code for steps of at most <see cref="MaxRows"/> tokens
/// (<see cref="HeadMaxRows"/> for the head), for two kinds of model: small float16 ones, on steps of few tokens, where
/// one ONNX Runtime Run costs more than its arithmetic and the session reads weights folded to float32, twice the
/// bytes; and 4-bit ones (MatMulNBits blocks of 32 at accuracy_level 4), on every step, where the session reads a
/// repacked copy of 0.875 bytes a weight against the kernel's 0.625 and both copies would not fit the memory goal. Built from the graphs' own initializers and checked
/// against the sessions at load on a probe input: a graph the managed code does not reproduce keeps its session for
/// every step. Not thread-safe: the forward step runs one step at a time.
/// </summary>
internal sealed class FewRowDense
{
    /// <summary>
    /// The most tokens a step may have for the managed embed, qkv and post of a float16 model (measured: with the
    /// projections split over two workers they beat the sessions up to 32 tokens; docs/benchmarks.md).
    /// </summary>
    public const int HalfMaxRows = 32;

    /// <summary>The most rows for a float16 model's managed head: above it, the session's float32 GEMM over the vocabulary is faster.</summary>
    public const int HalfHeadMaxRows = 8;

    // Managed outputs must agree with the sessions to this fraction of the largest output (the same float16 weights
    // or the same integer block products either way; only the order of the float32 additions differs).
    private const float Tolerance = 1e-4f;

    private FewRowDense(ReadOnlyMemory<byte> embedding, int dModel, QkvLayer?[] qkv, PostLayer?[] post, HeadLayer? head, int maxRows, int headMaxRows)
    {
        (Embedding, DModel, Qkv, Post, Head, MaxRows, HeadMaxRows) = (embedding, dModel, qkv, post, head, maxRows, headMaxRows);
    }

    /// <summary>The embedding table as float16 bit patterns [vocab, d] (empty when the embed graph keeps its session).</summary>
    public ReadOnlyMemory<byte> Embedding { get; }

    public int DModel { get; }

    /// <summary>Per layer, or null where the layer's qkv graph keeps its session.</summary>
    public QkvLayer?[] Qkv { get; }

    /// <summary>Per layer, or null where the layer's post graph keeps its session.</summary>
    public PostLayer?[] Post { get; }

    public HeadLayer? Head { get; }

    /// <summary>Steps of at most this many tokens run the managed embed, qkv and post.</summary>
    public int MaxRows { get; }

    /// <summary>Steps whose head takes at most this many rows run the managed head.</summary>
    public int HeadMaxRows { get; }

    /// <summary>
    /// Whether the managed graphs run every step, prefill included (a 4-bit model's: the kernel matches MatMulNBits
    /// at 25 rows and reads less below). The loader then releases the sessions they replace.
    /// </summary>
    public bool EveryStep => MaxRows == int.MaxValue;

    /// <summary>How many of the model's dense graphs run managed.</summary>
    public int Graphs => (Embedding.IsEmpty ? 0 : 1) + Qkv.Count(q => q is not null) + Post.Count(p => p is not null) + (Head is null ? 0 : 1);

    /// <summary>hidden [ids.Length, d] = the embedding rows of <paramref name="ids"/>, widened.</summary>
    public void Embed(ReadOnlySpan<long> ids, Span<float> hidden)
    {
        var table = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(Embedding.Span);
        int d = DModel;
        for (int r = 0; r < ids.Length; r++)
        {
            System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(table.Slice((int)ids[r] * d, d), hidden.Slice(r * d, d));
        }
    }

    /// <summary>
    /// The managed dense graphs of a model whose shape they cover (float16 weights, or 4-bit blocks of 32 at
    /// accuracy_level 4 without zero points; no per-head q/k norm, no q/k/v bias), each checked against its session;
    /// null when none applies.
    /// </summary>
    public static FewRowDense? TryLoad(string directory, ModelManifest manifest, GraphSession embed, GraphSession[] qkvSessions, GraphSession[] postSessions, GraphSession headSession)
    {
        var c = manifest.Config;
        bool int4 = Int4MatMul.IsAccelerated &&
            manifest.Quantization is { Mode: Model.Quantization.WeightQuantization.Int4, BlockSize: Int8Rows.BlockSize, AccuracyLevel: 4 };
        bool half = HalfMatMul.IsAccelerated && manifest.WeightDType == TensorDType.Float16 && manifest.Quantization is null;
        if (!(int4 || half) || c.QkNorm == QkNormKind.PerHead || c.QkvBias || c.HeadDim % 2 != 0)
        {
            return null;
        }

        var reader = new Reader(directory, int4);
        float eps = (float)c.NormEps;
        var rope = new RotaryEmbedding(c.HeadDim, c.RopeTheta);
        int total = c.QueryWidth + (2 * c.KeyValueWidth);
        var qkv = new QkvLayer?[c.Layers];
        var post = new PostLayer?[c.Layers];
        for (int l = 0; l < c.Layers; l++)
        {
            var layer = manifest.Graphs.Layers[l];
            float[]? queryNorm = c.QkNorm == QkNormKind.Full ? reader.Float(layer.Qkv, "q_norm", c.QueryWidth) : null;
            float[]? keyNorm = c.QkNorm == QkNormKind.Full ? reader.Float(layer.Qkv, "k_norm", c.KeyValueWidth) : null;
            var q = reader.Float(layer.Qkv, "attention_norm", c.DModel) is { } attentionNorm && reader.Projection(layer.Qkv, "wqkv", c.DModel, total) is { } wqkv &&
                    (c.QkNorm == QkNormKind.None || (queryNorm is not null && keyNorm is not null))
                ? new QkvLayer(attentionNorm, eps, wqkv, c.Heads, c.KeyValueHeads, rope, queryNorm, keyNorm)
                : null;
            qkv[l] = q is not null && Agrees(c, qkvSessions[l], q) ? q : null;
            var p = reader.Projection(layer.Post, "wo", c.QueryWidth, c.DModel) is { } wo && reader.Float(layer.Post, "ffn_norm", c.DModel) is { } ffnNorm &&
                    reader.Float(layer.Post, "gate_t", c.DModel * c.Experts) is { } gate
                ? new PostLayer(wo, ffnNorm, eps, gate, c.Experts)
                : null;
            post[l] = p is not null && Agrees(c, postSessions[l], p) ? p : null;
            reader.Forget(layer.Qkv);
            reader.Forget(layer.Post);
        }

        var h = reader.Float(manifest.Graphs.Head, "norm", c.DModel) is { } finalNorm &&
                reader.Projection(manifest.Graphs.Head, c.UntiedHead ? "output" : "tok_embeddings", c.DModel, c.VocabSize) is { } w
            ? new HeadLayer(finalNorm, eps, w)
            : null;
        var head = h is not null && Agrees(c, headSession, h) ? h : null;
        var (maxRows, headMaxRows) = int4 ? (int.MaxValue, int.MaxValue) : (HalfMaxRows, HalfHeadMaxRows);

        // The float16 table of a small model only: a large one would be a second copy of hundreds of megabytes beside
        // the session's, for a Gather that costs the session little.
        var table = int4 ? null : reader.Raw(manifest.Graphs.Embed, "tok_embeddings_fp16", TensorProto.Types.DataType.Float16, (long)c.VocabSize * c.DModel * 2);
        var dense = new FewRowDense(table ?? ReadOnlyMemory<byte>.Empty, c.DModel, qkv, post, head, maxRows, headMaxRows);
        if (table is not null && !Agrees(c, embed, dense))
        {
            dense = new FewRowDense(ReadOnlyMemory<byte>.Empty, c.DModel, qkv, post, head, maxRows, headMaxRows);
        }

        return dense.Graphs > 0 ? dense : null;
    }

    // Probe inputs: two tokens of varied magnitudes at positions 0 and 37 (RoPE at a non-trivial angle).
    private const int ProbeRows = 2;

    private static float[] ProbeInput(int length, int seed)
    {
        var random = new Random(seed);
        var values = new float[length];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)((random.NextDouble() * 4) - 2);
        }

        return values;
    }

    private static bool Agrees(ModelConfig c, GraphSession session, QkvLayer managed)
    {
        float[] hidden = ProbeInput(ProbeRows * c.DModel, 1);
        long[] positions = [0, 37];
        float[][] expected = [new float[ProbeRows * c.QueryWidth], new float[ProbeRows * c.KeyValueWidth], new float[ProbeRows * c.KeyValueWidth]];
        float[][] actual = [new float[ProbeRows * c.QueryWidth], new float[ProbeRows * c.KeyValueWidth], new float[ProbeRows * c.KeyValueWidth]];
        Run(session, [Tensor(hidden, ProbeRows, c.DModel), Tensor(positions)], [Tensor(expected[0], ProbeRows, c.Heads, c.HeadDim), Tensor(expected[1], ProbeRows, c.KeyValueHeads, c.HeadDim), Tensor(expected[2], ProbeRows, c.KeyValueHeads, c.HeadDim)]);
        managed.Run(hidden, positions, ProbeRows, actual[0], actual[1], actual[2], SerialMatMul.Instance);
        return Close(expected, actual);
    }

    private static bool Agrees(ModelConfig c, GraphSession session, PostLayer managed)
    {
        float[] hidden = ProbeInput(ProbeRows * c.DModel, 2);
        float[] attention = ProbeInput(ProbeRows * c.QueryWidth, 3);
        float[][] expected = [new float[ProbeRows * c.DModel], new float[ProbeRows * c.DModel], new float[ProbeRows * c.Experts]];
        float[][] actual = [new float[ProbeRows * c.DModel], new float[ProbeRows * c.DModel], new float[ProbeRows * c.Experts]];
        Run(session, [Tensor(hidden, ProbeRows, c.DModel), Tensor(attention, ProbeRows, c.QueryWidth)], [Tensor(expected[0], ProbeRows, c.DModel), Tensor(expected[1], ProbeRows, c.DModel), Tensor(expected[2], ProbeRows, c.Experts)]);
        managed.Run(hidden, attention, ProbeRows, actual[0], actual[1], actual[2], SerialMatMul.Instance);
        return Close(expected, actual);
    }

    private static bool Agrees(ModelConfig c, GraphSession session, HeadLayer managed)
    {
        float[] hidden = ProbeInput(ProbeRows * c.DModel, 4);
        float[][] expected = [new float[ProbeRows * c.VocabSize]];
        float[][] actual = [new float[ProbeRows * c.VocabSize]];
        Run(session, [Tensor(hidden, ProbeRows, c.DModel)], [Tensor(expected[0], ProbeRows, c.VocabSize)]);
        managed.Run(hidden, ProbeRows, actual[0], SerialMatMul.Instance);
        return Close(expected, actual);
    }

    private static bool Agrees(ModelConfig c, GraphSession session, FewRowDense managed)
    {
        long[] ids = [0, c.VocabSize - 1];
        float[][] expected = [new float[ProbeRows * c.DModel]];
        float[][] actual = [new float[ProbeRows * c.DModel]];
        Run(session, [Tensor(ids)], [Tensor(expected[0], ProbeRows, c.DModel)]);
        managed.Embed(ids, actual[0]);
        return Close(expected, actual);
    }

    // One Run of the session; the values are disposed after it.
    private static void Run(GraphSession session, OrtValue[] inputs, OrtValue[] outputs)
    {
        try
        {
            using var runOptions = new RunOptions();
            session.Run(runOptions, inputs, outputs);
        }
        finally
        {
            foreach (var value in inputs.Concat(outputs))
            {
                value.Dispose();
            }
        }
    }

    private static OrtValue Tensor(float[] data, params long[] shape) => OrtValue.CreateTensorValueFromMemory(data, shape);

    private static OrtValue Tensor(long[] data) => OrtValue.CreateTensorValueFromMemory(data, [data.Length]);

    private static bool Close(float[][] expected, float[][] actual)
    {
        for (int o = 0; o < expected.Length; o++)
        {
            float largest = expected[o].Max(MathF.Abs);
            for (int i = 0; i < expected[o].Length; i++)
            {
                if (!(MathF.Abs(expected[o][i] - actual[o][i]) <= Tolerance * largest))
                {
                    return false;
                }
            }
        }

        return true;
    }

    // Initializers by graph file and name, each graph parsed once.
    private sealed class Reader(string directory, bool int4)
    {
        private readonly Dictionary<string, Dictionary<string, TensorProto>?> _graphs = new(StringComparer.Ordinal);

        public float[]? Float(string file, string name, int length) =>
            Raw(file, name, TensorProto.Types.DataType.Float, (long)length * sizeof(float)) is { } bytes
                ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes.Span).ToArray()
                : null;

        // The projection export names 'stem': MatMulNBits codes and scales (stem_q, stem_scales; no zero points) in a
        // 4-bit model, else a float16 [inputs, outputs] initializer (stem_t_fp16); null when it is neither.
        public IProjection? Projection(string file, string stem, int inputs, int outputs)
        {
            if (int4 && Initializers(file) is { } all && !all.ContainsKey(stem + "_zero_points") &&
                Raw(file, stem + "_q", TensorProto.Types.DataType.Uint8, (long)outputs * (inputs / Int8Rows.BlockSize) * Int4MatMul.BlockBytes) is { } codes &&
                Raw(file, stem + "_scales", TensorProto.Types.DataType.Float, (long)outputs * (inputs / Int8Rows.BlockSize) * sizeof(float)) is { } scales)
            {
                return new Int4Projection(new Int4Matrix(outputs, inputs, codes.Span, scales.Span));
            }

            return Raw(file, stem + "_t_fp16", TensorProto.Types.DataType.Float16, (long)inputs * outputs * 2) is { } bytes ? new HalfMatrix(inputs, outputs, bytes.Span) : null;
        }

        // (The cast matters: without it the null would convert to an empty ReadOnlyMemory through its implicit
        // conversion from an array, and a missing weight would read as present.)
        public ReadOnlyMemory<byte>? Raw(string file, string name, TensorProto.Types.DataType type, long bytes) =>
            Initializers(file) is { } initializers && GraphFile.Inline(initializers, name, type) is { } t && t.RawData.Length == bytes ? (ReadOnlyMemory<byte>?)t.RawData.Memory : null;

        // Drops a graph read in full: the layers' graphs are not all held at once.
        public void Forget(string file) => _graphs.Remove(file);

        private Dictionary<string, TensorProto>? Initializers(string file)
        {
            if (!_graphs.TryGetValue(file, out var initializers))
            {
                initializers = GraphFile.TryParse(Path.Combine(directory, file))?.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
                _graphs[file] = initializers;
            }

            return initializers;
        }
    }
}
