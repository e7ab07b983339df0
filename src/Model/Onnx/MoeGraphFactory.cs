using Google.Protobuf;
using MoeServe.Model.Quantization;
using Onnx;

namespace MoeServe.Model.Onnx;

/// <summary>
/// Builds the per-part ONNX graphs of a checkpoint: embed, each layer's parts before and after attention, each expert,
/// the optional shared expert and the head, with the math of docs/contracts.md.
/// Linear weights are stored transposed ([in, out]) so every projection is one MatMul.
/// </summary>
public sealed class MoeGraphFactory
{
    private const string TokenDim = "N";

    private readonly ModelConfig _config;
    private readonly ITensorSource _weights;
    private readonly TensorDType _weightType;
    private readonly QuantizationSettings? _quantization;

    /// <summary>Prepares graph building; checks that every expected tensor exists with its shape.</summary>
    /// <param name="config">The model configuration (validated here).</param>
    /// <param name="weights">The checkpoint's weights (read one tensor at a time, when a graph needs it).</param>
    /// <param name="weightType">How weights are stored inside the graphs.</param>
    /// <param name="quantization">
    /// When set, the expert matrices and the attention projections (Q/K/V, Wo) are stored blockwise
    /// quantized and run by MatMulNBits; embeddings, norms and router gate stay in <paramref name="weightType"/>, and so does
    /// the head unless the source stores it in blocks that copy losslessly (GGUF Q8_0 / Q4_0).
    /// </param>
    /// <exception cref="InvalidDataException">Config invalid or tensors missing/mis-shaped; every problem listed.</exception>
    public MoeGraphFactory(ModelConfig config, ITensorSource weights, TensorDType weightType, QuantizationSettings? quantization = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        var errors = new List<string>(config.Validate());
        if (errors.Count == 0)
        {
            errors.AddRange(CheckpointTensorNames.Check(config, weights));
        }

        if (quantization is not null)
        {
            errors.AddRange(quantization.Validate());
        }

        if (errors.Count > 0)
        {
            throw new InvalidDataException(ErrorList.Format("Cannot build graphs", errors));
        }

        _config = config;
        _weights = weights;
        _weightType = weightType;
        _quantization = quantization;
    }

    /// <summary>The round-trip error of every matrix quantized so far (empty without quantization).</summary>
    public QuantizationError QuantizationError { get; } = new();

    /// <summary>
    /// Every graph file of the model in write order (embed, per layer qkv, post, experts, shared, then
    /// head), each built only when asked so one graph's weights are in memory at a time.
    /// </summary>
    public IReadOnlyList<PlannedGraph> Plan()
    {
        var graphs = new List<PlannedGraph> { new(GraphNames.EmbedFile, -1, BuildEmbed) };
        for (int l = 0; l < _config.Layers; l++)
        {
            int layer = l;
            graphs.Add(new(GraphNames.QkvFile(layer), layer, () => BuildQkv(layer)));
            graphs.Add(new(GraphNames.PostFile(layer), layer, () => BuildPost(layer)));
            for (int j = 0; j < _config.Experts; j++)
            {
                int expert = j;
                graphs.Add(new(GraphNames.ExpertFile(layer, expert), layer, () => BuildExpert(layer, expert)));
            }

            if (_config.HasSharedExpert)
            {
                graphs.Add(new(GraphNames.SharedFile(layer), layer, () => BuildShared(layer)));
            }
        }

        graphs.Add(new(GraphNames.HeadFile, -1, BuildHead));
        return graphs;
    }

    /// <summary>Writes <paramref name="model"/> to a new file at <paramref name="path"/>; returns its size in bytes.</summary>
    public static long Write(ModelProto model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        using (var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
        {
            model.WriteTo(stream);
        }

        return new FileInfo(path).Length;
    }

    /// <summary>
    /// How export stores a checkpoint tensor when <paramref name="requested"/> is the chosen type: norm
    /// weights and the router gate stay float32 (a few KB, and their rounding costs the most accuracy:
    /// norms scale every activation, the gate decides which experts run); everything else follows the request.
    /// </summary>
    /// <param name="tensorName">A checkpoint tensor name.</param>
    /// <param name="requested">The export's weight type.</param>
    public static TensorDType StoredType(string tensorName, TensorDType requested)
    {
        ArgumentNullException.ThrowIfNull(tensorName);
        bool alwaysFloat32 = tensorName.EndsWith("norm.weight", StringComparison.Ordinal)
            || tensorName.EndsWith(".moe.gate.weight", StringComparison.Ordinal)
            || tensorName.EndsWith(".bias", StringComparison.Ordinal)
            || tensorName.EndsWith(".shared_expert_gate.weight", StringComparison.Ordinal);
        return alwaysFloat32 ? TensorDType.Float32 : requested;
    }

    /// <summary>embed.onnx: input_ids int64 [N] -> hidden [N, d] (a Gather of the embedding rows).</summary>
    public ModelProto BuildEmbed()
    {
        var g = new OnnxGraphBuilder("embed", _weightType);
        string ids = g.Int64Input(GraphNames.InputIds, TokenDim);
        var table = _weights.Read(CheckpointTensorNames.TokenEmbeddings);
        string hidden = g.GatherRows("tok_embeddings", table.Shape, table.Data, ids);
        g.FloatOutput(GraphNames.Hidden, hidden, TokenDim, _config.DModel);
        return g.Build("MoeServe embedding: hidden = E[input_ids]");
    }

    /// <summary>head.onnx: hidden [N, d] -> logits [N, V] = RMSNorm(hidden, norm) E^T (tied embedding) or lm_head^T (untied).</summary>
    public ModelProto BuildHead()
    {
        var g = new OnnxGraphBuilder("head", _weightType);
        string hidden = g.FloatInput(GraphNames.Hidden, TokenDim, _config.DModel);
        string normed = RmsNorm(g, hidden, CheckpointTensorNames.FinalNorm, "norm");
        string logits;
        if (_config.UntiedHead && TryCopyBlocks(CheckpointTensorNames.OutputHead) is { } blocks)
        {
            // A head the source stores in Q8_0/Q4_0 blocks is run as it is stored: a step reads it whole.
            QuantizationError.AddCopied(blocks);
            logits = g.QuantizedMatMul(normed, "output", blocks, _quantization!.AccuracyLevel);
        }
        else
        {
            string et = _config.UntiedHead
                ? TransposedWeight(g, CheckpointTensorNames.OutputHead, "output_t")
                : TransposedWeight(g, CheckpointTensorNames.TokenEmbeddings, "tok_embeddings_t");
            logits = g.Op("MatMul", [normed, et]);
        }

        g.FloatOutput(GraphNames.Logits, logits, TokenDim, _config.VocabSize);
        return g.Build(_config.UntiedHead ? "MoeServe head: logits = RMSNorm(hidden) W_out^T" : "MoeServe head: logits = RMSNorm(hidden) E^T");
    }

    /// <summary>layer{l}.expert{j}.onnx: x [N, d] -> y [N, d] = (silu(x W1^T) * (x W3^T)) W2^T.</summary>
    /// <param name="layer">Layer index.</param>
    /// <param name="expert">Expert index.</param>
    public ModelProto BuildExpert(int layer, int expert)
    {
        CheckLayer(layer);
        if ((uint)expert >= (uint)_config.Experts)
        {
            throw new ArgumentOutOfRangeException(nameof(expert), expert, $"Expert must be in [0, {_config.Experts}).");
        }

        return BuildSwiGlu(
            $"layer{layer}_expert{expert}",
            CheckpointTensorNames.ExpertW1(layer, expert),
            CheckpointTensorNames.ExpertW3(layer, expert),
            CheckpointTensorNames.ExpertW2(layer, expert),
            _config.ExpertHidden);
    }

    /// <summary>layer{l}.shared.onnx: the always-on shared expert (only when sharedExpertHidden &gt; 0).</summary>
    /// <param name="layer">Layer index.</param>
    public ModelProto BuildShared(int layer)
    {
        CheckLayer(layer);
        if (!_config.HasSharedExpert)
        {
            throw new InvalidOperationException("The model has no shared expert (sharedExpertHidden = 0).");
        }

        return BuildSwiGlu(
            $"layer{layer}_shared",
            CheckpointTensorNames.SharedW1(layer),
            CheckpointTensorNames.SharedW3(layer),
            CheckpointTensorNames.SharedW2(layer),
            _config.SharedExpertHidden,
            _config.SharedExpertGate ? CheckpointTensorNames.SharedGate(layer) : null);
    }

    /// <summary>
    /// layer{l}.qkv.onnx over all N tokens of a step (sequences packed): attention RMSNorm, one fused
    /// Q/K/V MatMul, RoPE at each token's own position. Attention itself is left to the caller, which
    /// owns the KV cache.
    /// </summary>
    /// <param name="layer">Layer index.</param>
    public ModelProto BuildQkv(int layer)
    {
        CheckLayer(layer);
        int d = _config.DModel;
        int heads = _config.Heads;
        int kvHeads = _config.KeyValueHeads;
        int hd = _config.HeadDim;
        int qw = _config.QueryWidth;
        int kvw = _config.KeyValueWidth;
        int total = qw + (2 * kvw);
        var g = new OnnxGraphBuilder($"layer{layer}_qkv", _weightType);
        string hidden = g.FloatInput(GraphNames.Hidden, TokenDim, d);
        string positions = g.Int64Input(GraphNames.Positions, TokenDim);

        string a = RmsNorm(g, hidden, CheckpointTensorNames.AttentionNorm(layer), "attention_norm");

        // One [d, qw + 2 kvw] MatMul then a Split: one GEMM instead of three small ones.
        string[] names = [CheckpointTensorNames.Wq(layer), CheckpointTensorNames.Wk(layer), CheckpointTensorNames.Wv(layer)];
        string both = _quantization is null ? FusedQkvMatMul(g, a, names, d, total, [qw, kvw, kvw]) : QuantizedRowsMatMul(g, a, "wqkv", names, d);
        if (_config.QkvBias)
        {
            float[] bias = new float[total];
            _weights.Read(CheckpointTensorNames.QBias(layer)).Data.CopyTo(bias, 0);
            _weights.Read(CheckpointTensorNames.KBias(layer)).Data.CopyTo(bias, qw);
            _weights.Read(CheckpointTensorNames.VBias(layer)).Data.CopyTo(bias, qw + kvw);
            both = g.Op("Add", [both, g.Weight("qkv_bias", [total], bias, keepFloat32: true)]);
        }

        var parts = g.Node("Split", [both, g.Int64Constant("split_sizes", qw, kvw, kvw)], [g.Fresh("q_proj"), g.Fresh("k_proj"), g.Fresh("v_proj")], ("axis", 1L));
        string qFlat = parts[0];
        string kFlat = parts[1];
        if (_config.QkNorm == QkNormKind.Full)
        {
            // OLMoE: RMSNorm over the whole projection before it is split into heads.
            qFlat = RmsNorm(g, qFlat, CheckpointTensorNames.QNorm(layer), "q_norm");
            kFlat = RmsNorm(g, kFlat, CheckpointTensorNames.KNorm(layer), "k_norm");
        }

        string q = g.Op("Reshape", [qFlat, g.Int64Constant("q_shape", -1, heads, hd)]);
        string kvShape = g.Int64Constant("kv_shape", -1, kvHeads, hd);
        string k = g.Op("Reshape", [kFlat, kvShape]);
        string v = g.Op("Reshape", [parts[2], kvShape]);
        if (_config.QkNorm == QkNormKind.PerHead)
        {
            // Qwen3-MoE: RMSNorm of each head over hd, one weight shared by the heads.
            q = RmsNorm(g, q, CheckpointTensorNames.QNorm(layer), "q_norm");
            k = RmsNorm(g, k, CheckpointTensorNames.KNorm(layer), "k_norm");
        }

        // cos/sin [N, hd] -> [N, 1, hd] to broadcast over the heads of [N, H, hd].
        var (cos, sin) = RopeTables(g, positions, hd);
        string headAxis = g.Int64Constant("head_axis", 1);
        string cosH = g.Op("Unsqueeze", [cos, headAxis]);
        string sinH = g.Op("Unsqueeze", [sin, headAxis]);
        string qr = Rope(g, q, cosH, sinH, hd);
        string kr = Rope(g, k, cosH, sinH, hd);

        g.FloatOutput(GraphNames.Query, qr, TokenDim, heads, hd);
        g.FloatOutput(GraphNames.Key, kr, TokenDim, kvHeads, hd);
        g.FloatOutput(GraphNames.Value, v, TokenDim, kvHeads, hd);
        return g.Build($"MoeServe layer {layer} before attention: attention norm, Q/K/V, RoPE");
    }

    private string FusedQkvMatMul(OnnxGraphBuilder g, string a, string[] names, int d, int total, int[] widths)
    {
        float[] fused = new float[d * total];
        int column = 0;
        for (int w = 0; w < 3; w++)
        {
            var weight = _weights.Read(names[w]);
            int rows = widths[w];
            for (int o = 0; o < rows; o++)
            {
                for (int i = 0; i < d; i++)
                {
                    fused[(i * total) + column + o] = weight.Data[(o * d) + i];
                }
            }

            column += rows;
        }

        string wqkv = g.Weight("wqkv_t", [d, total], fused, StoredType(names[0], _weightType) == TensorDType.Float32);
        return g.Op("MatMul", [a, wqkv]);
    }

    /// <summary>
    /// layer{l}.post.onnx over all N tokens of a step: residual = hidden + attention Wo^T, ffn RMSNorm,
    /// router logits.
    /// </summary>
    /// <param name="layer">Layer index.</param>
    public ModelProto BuildPost(int layer)
    {
        CheckLayer(layer);
        int d = _config.DModel;
        var g = new OnnxGraphBuilder($"layer{layer}_post", _weightType);
        string hidden = g.FloatInput(GraphNames.Hidden, TokenDim, d);
        string merged = g.FloatInput(GraphNames.Attention, TokenDim, _config.QueryWidth);
        string attention = _quantization is null
            ? g.Op("MatMul", [merged, TransposedWeight(g, CheckpointTensorNames.Wo(layer), "wo_t")])
            : QuantizedRowsMatMul(g, merged, "wo", [CheckpointTensorNames.Wo(layer)], _config.QueryWidth);
        string residual = g.Op("Add", [hidden, attention]);
        string ffnInput = RmsNorm(g, residual, CheckpointTensorNames.FfnNorm(layer), "ffn_norm");
        string logits = g.Op("MatMul", [ffnInput, TransposedWeight(g, CheckpointTensorNames.Gate(layer), "gate_t")]);

        g.FloatOutput(GraphNames.Residual, residual, TokenDim, d);
        g.FloatOutput(GraphNames.FfnInput, ffnInput, TokenDim, d);
        g.FloatOutput(GraphNames.RouterLogits, logits, TokenDim, _config.Experts);
        return g.Build($"MoeServe layer {layer} after attention: Wo, residual, ffn norm, router logits");
    }

    private ModelProto BuildSwiGlu(string graphName, string w1Name, string w3Name, string w2Name, int hidden, string? sigmoidGateName = null)
    {
        int d = _config.DModel;
        var g = new OnnxGraphBuilder(graphName, _weightType);
        string x = g.FloatInput(GraphNames.ExpertInput, TokenDim, d);

        // W1 and W3 share their input: one [d, 2h] MatMul then a Split beats two small GEMMs at small N.
        string both = _quantization is null ? FusedW13MatMul(g, x, w1Name, w3Name, d, hidden) : QuantizedRowsMatMul(g, x, "w13", [w1Name, w3Name], d);
        var halves = g.Node("Split", [both, g.Int64Constant("split_sizes", hidden, hidden)], [g.Fresh("gate_proj"), g.Fresh("up_proj")], ("axis", 1L));
        string silu = g.Op("Mul", [halves[0], g.Op("Sigmoid", [halves[0]])]);
        string product = g.Op("Mul", [silu, halves[1]]);
        string y = _quantization is null
            ? g.Op("MatMul", [product, TransposedWeight(g, w2Name, "w2_t")])
            : QuantizedRowsMatMul(g, product, "w2", [w2Name], hidden);
        if (sigmoidGateName is not null)
        {
            // Qwen2-MoE's shared expert: y * sigmoid(x Wsg^T), one scalar gate per token.
            string gate = g.Op("Sigmoid", [g.Op("MatMul", [x, TransposedWeight(g, sigmoidGateName, "shared_gate_t")])]);
            y = g.Op("Mul", [y, gate]);
        }

        g.FloatOutput(GraphNames.ExpertOutput, y, TokenDim, d);
        return g.Build($"MoeServe SwiGLU expert {graphName}: y = (silu(x W1^T) * (x W3^T)) W2^T");
    }

    private string FusedW13MatMul(OnnxGraphBuilder g, string x, string w1Name, string w3Name, int d, int hidden)
    {
        var w1 = _weights.Read(w1Name);
        var w3 = _weights.Read(w3Name);
        float[] fused = new float[d * 2 * hidden];
        for (int i = 0; i < d; i++)
        {
            for (int o = 0; o < hidden; o++)
            {
                fused[(i * 2 * hidden) + o] = w1.Data[(o * d) + i];
                fused[(i * 2 * hidden) + hidden + o] = w3.Data[(o * d) + i];
            }
        }

        string w13 = g.Weight("w13_t", [d, 2 * hidden], fused);
        return g.Op("MatMul", [x, w13]);
    }

    // x W^T for W the named Linear weights [out_i, k] stacked by rows (Q/K/V, or W1/W3): one MatMulNBits
    // node, whose [N, K] layout is the checkpoint's own [out, in], so no transpose is needed. A weight the
    // source already holds in matching blocks (GGUF Q8_0 / Q4_0) is copied, not dequantized and re-quantized.
    private string QuantizedRowsMatMul(OnnxGraphBuilder g, string x, string stem, string[] names, int k)
    {
        var settings = _quantization!;
        var parts = new BlockQuantizedMatrix[names.Length];
        for (int i = 0; i < names.Length; i++)
        {
            if (TryCopyBlocks(names[i]) is { } copied)
            {
                QuantizationError.AddCopied(copied);
                parts[i] = copied;
                continue;
            }

            var tensor = _weights.Read(names[i]);
            parts[i] = settings.Quantize(tensor.Data, tensor.Shape[0], k);
            QuantizationError.Add(tensor.Data, parts[i]);
        }

        return g.QuantizedMatMul(x, stem, BlockQuantizedMatrix.StackRows(parts), settings.AccuracyLevel);
    }

    // The named weight as the source's own Q8_0/Q4_0 blocks, when quantizing at their block size; else null.
    private BlockQuantizedMatrix? TryCopyBlocks(string name) =>
        _quantization is { BlockSize: Gguf.GgmlBlockCopier.BlockSize } settings && _weights is IQuantizedTensorSource blocks
            ? blocks.TryReadQuantized(name, settings.Bits)
            : null;

    // Pow -> ReduceMean -> Add -> Sqrt -> Div -> Mul: the pattern ONNX Runtime fuses into SimplifiedLayerNormalization.
    private string RmsNorm(OnnxGraphBuilder g, string x, string weightName, string hint)
    {
        var weight = _weights.Read(weightName);
        string w = g.Weight(hint, weight.Shape, weight.Data, StoredType(weightName, _weightType) == TensorDType.Float32);
        string squared = g.Op("Pow", [x, g.Scalar("two", 2f)]);
        string mean = g.Op("ReduceMean", [squared], ("axes", new long[] { -1 }), ("keepdims", 1L));
        string root = g.Op("Sqrt", [g.Op("Add", [mean, g.Scalar("eps", (float)_config.NormEps)])]);
        return g.Op("Mul", [g.Op("Div", [x, root]), w]);
    }

    private string TransposedWeight(OnnxGraphBuilder g, string name, string hint)
    {
        var transposed = _weights.Read(name).Transposed();
        return g.Weight(hint, transposed.Shape, transposed.Data, StoredType(name, _weightType) == TensorDType.Float32);
    }

    // Angles and cos/sin in float64, then float32: the same numbers as training's precomputed tables,
    // without a table that would cap positions at the context length.
    private (string Cos, string Sin) RopeTables(OnnxGraphBuilder g, string positions, int hd)
    {
        int half = hd / 2;
        double[] inv = new double[half];
        for (int i = 0; i < half; i++)
        {
            inv[i] = Math.Pow(_config.RopeTheta, -2.0 * i / hd);
        }

        string invFreq = g.DoubleConstant("inv_freq", [half], inv);
        string pos = g.Op("Unsqueeze", [g.Op("Cast", [positions], ("to", (long)TensorProto.Types.DataType.Double)), g.Int64Constant("axis1", 1)]);
        string angle = g.Op("Mul", [pos, invFreq]);                   // [N, hd/2] float64
        string full = g.Op("Concat", [angle, angle], ("axis", -1L)); // [N, hd]
        long toFloat = (long)TensorProto.Types.DataType.Float;
        return (g.Op("Cast", [g.Op("Cos", [full])], ("to", toFloat)), g.Op("Cast", [g.Op("Sin", [full])], ("to", toFloat)));
    }

    // rope(x) = x * cos + rotate_half(x) * sin with rotate_half(x) = concat(-x[hd/2:], x[:hd/2]); x is [N, H, hd].
    private static string Rope(OnnxGraphBuilder g, string x, string cos, string sin, int hd)
    {
        int half = hd / 2;
        string axes = g.Int64Constant("last_axis", 2);
        string first = g.Op("Slice", [x, g.Int64Constant("zero", 0), g.Int64Constant("half", half), axes]);
        string second = g.Op("Slice", [x, g.Int64Constant("half", half), g.Int64Constant("full", hd), axes]);
        string rotated = g.Op("Concat", [g.Op("Neg", [second]), first], ("axis", -1L));
        return g.Op("Add", [g.Op("Mul", [x, cos]), g.Op("Mul", [rotated, sin])]);
    }

    private void CheckLayer(int layer)
    {
        if ((uint)layer >= (uint)_config.Layers)
        {
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"Layer must be in [0, {_config.Layers}).");
        }
    }
}

/// <summary>One graph file of a model: its name, its layer (-1 for embed and head) and how to build it.</summary>
/// <param name="File">File name inside the model directory.</param>
/// <param name="Layer">The layer the graph belongs to, or -1.</param>
/// <param name="Build">Builds the graph (reads its weights then).</param>
public sealed record PlannedGraph(string File, int Layer, Func<ModelProto> Build);
