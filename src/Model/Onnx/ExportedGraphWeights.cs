using System.Runtime.InteropServices;
using Onnx;

namespace MoeServe.Model.Onnx;

/// <summary>
/// The checkpoint tensors of an exported model, read back out of its ONNX graphs (the initializers
/// <see cref="MoeGraphFactory"/> wrote: fused Q/K/V and W1/W3, transposed [in, out] projections,
/// float16 or float32), in checkpoint layout ([out, in]) and as float32. It lets a model directory be
/// written in another format (the llama.cpp peer's GGUF) when its checkpoint is not at hand.
/// Covers MoeServe's own architecture (no GQA, explicit head width, q/k norms, biases, shared
/// expert or untied head); graphs are parsed once each, when first needed.
/// </summary>
public sealed class ExportedGraphWeights : ITensorSource
{
    private readonly string _directory;
    private readonly ModelManifest _manifest;
    private readonly Dictionary<string, Dictionary<string, TensorProto>> _graphs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (int[] Shape, Func<FloatTensor> Read)> _tensors = new(StringComparer.Ordinal);

    /// <summary>Indexes the tensors of the model in <paramref name="directory"/> (its manifest is read here).</summary>
    /// <param name="directory">An exported model directory (manifest.json and its graphs).</param>
    /// <exception cref="NotSupportedException">The model uses a feature outside MoeServe's own architecture.</exception>
    public ExportedGraphWeights(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        _directory = directory;
        _manifest = ModelManifest.Load(directory);
        var c = _manifest.Config;
        if (c.KeyValueHeads != c.Heads || c.HeadDim * c.Heads != c.DModel || c.QkNorm != QkNormKind.None || c.QkvBias || c.HasSharedExpert || c.UntiedHead)
        {
            throw new NotSupportedException($"'{directory}': reading weights back from graphs covers MoeServe's own architecture only (no GQA, explicit head width, q/k norm, biases, shared expert or untied head).");
        }

        int d = c.DModel;
        int h = c.ExpertHidden;
        var graphs = _manifest.Graphs;
        Add(CheckpointTensorNames.TokenEmbeddings, [c.VocabSize, d], () => Plain(graphs.Embed, "tok_embeddings"));
        Add(CheckpointTensorNames.FinalNorm, [d], () => Plain(graphs.Head, "norm"));
        for (int l = 0; l < c.Layers; l++)
        {
            var layer = graphs.Layers[l];
            Add(CheckpointTensorNames.AttentionNorm(l), [d], () => Plain(layer.Qkv, "attention_norm"));
            Add(CheckpointTensorNames.Wq(l), [d, d], () => Columns(layer.Qkv, "wqkv_t", 0, d));
            Add(CheckpointTensorNames.Wk(l), [d, d], () => Columns(layer.Qkv, "wqkv_t", d, d));
            Add(CheckpointTensorNames.Wv(l), [d, d], () => Columns(layer.Qkv, "wqkv_t", 2 * d, d));
            Add(CheckpointTensorNames.Wo(l), [d, d], () => Columns(layer.Post, "wo_t", 0, d));
            Add(CheckpointTensorNames.FfnNorm(l), [d], () => Plain(layer.Post, "ffn_norm"));
            Add(CheckpointTensorNames.Gate(l), [c.Experts, d], () => Columns(layer.Post, "gate_t", 0, c.Experts));
            for (int e = 0; e < c.Experts; e++)
            {
                string expert = layer.Experts[e];
                Add(CheckpointTensorNames.ExpertW1(l, e), [h, d], () => Columns(expert, "w13_t", 0, h));
                Add(CheckpointTensorNames.ExpertW3(l, e), [h, d], () => Columns(expert, "w13_t", h, h));
                Add(CheckpointTensorNames.ExpertW2(l, e), [d, h], () => Columns(expert, "w2_t", 0, d));
            }
        }
    }

    /// <summary>The model's manifest.</summary>
    public ModelManifest Manifest => _manifest;

    /// <inheritdoc />
    public string Source => _directory;

    /// <inheritdoc />
    public int[]? ShapeOf(string name) => _tensors.TryGetValue(name, out var t) ? t.Shape : null;

    /// <inheritdoc />
    public FloatTensor Read(string name) =>
        _tensors.TryGetValue(name, out var t) ? t.Read() : throw new KeyNotFoundException($"'{_directory}' has no tensor '{name}'.");

    /// <inheritdoc />
    public string DescribeName(string name) => name;

    private void Add(string name, int[] shape, Func<FloatTensor> read) => _tensors.Add(name, (shape, read));

    private FloatTensor Plain(string graph, string initializer)
    {
        var (shape, data) = Initializer(graph, initializer);
        return new FloatTensor(shape, data);
    }

    // Columns [start, start + count) of a stored [in, out] weight, transposed back to [count, in].
    private FloatTensor Columns(string graph, string initializer, int start, int count)
    {
        var (shape, data) = Initializer(graph, initializer);
        int rows = shape[0];
        int cols = shape[1];
        var result = new float[count * rows];
        for (int i = 0; i < rows; i++)
        {
            for (int o = 0; o < count; o++)
            {
                result[(o * rows) + i] = data[(i * cols) + start + o];
            }
        }

        return new FloatTensor([count, rows], result);
    }

    // A weight is stored as NAME (float32) or NAME_fp16 (float16, widened by a Cast in the graph).
    private (int[] Shape, float[] Data) Initializer(string graph, string name)
    {
        if (!_graphs.TryGetValue(graph, out var initializers))
        {
            using var stream = File.OpenRead(Path.Combine(_directory, graph));
            var model = ModelProto.Parser.ParseFrom(stream);
            initializers = model.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
            _graphs[graph] = initializers;
        }

        if (!initializers.TryGetValue(name, out var tensor) && !initializers.TryGetValue(name + "_fp16", out tensor))
        {
            throw new InvalidDataException($"'{Path.Combine(_directory, graph)}' has no initializer '{name}' (or '{name}_fp16').");
        }

        int[] shape = tensor.Dims.Select(x => checked((int)x)).ToArray();
        var raw = tensor.RawData.Span;
        float[] data;
        switch ((TensorProto.Types.DataType)tensor.DataType)
        {
            case TensorProto.Types.DataType.Float:
                data = MemoryMarshal.Cast<byte, float>(raw).ToArray();
                break;
            case TensorProto.Types.DataType.Float16:
                var halves = MemoryMarshal.Cast<byte, Half>(raw);
                data = new float[halves.Length];
                System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(halves, data);
                break;
            default:
                throw new InvalidDataException($"'{graph}': initializer '{tensor.Name}' is of type {tensor.DataType}, not float or float16.");
        }

        if (data.Length != FloatTensor.ElementCountOf(shape))
        {
            throw new InvalidDataException($"'{graph}': initializer '{tensor.Name}' holds {data.Length} values for shape [{string.Join(", ", shape)}] (raw_data expected).");
        }

        return (shape, data);
    }
}
