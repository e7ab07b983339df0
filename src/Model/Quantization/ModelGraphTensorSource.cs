using System.Runtime.InteropServices;
using MoeServe.Model.Onnx;
using Onnx;

namespace MoeServe.Model.Quantization;

/// <summary>
/// The checkpoint tensors of an exported float model, read back out of its graphs' initializers (the
/// names <see cref="MoeGraphFactory"/> writes: wqkv_t, wo_t, w13_t, w2_t, ..., float32 or float16):
/// lets <c>quantize</c> rebuild a model directory without its training checkpoint. One graph file's
/// initializers are held at a time, in the order the factory asks for them.
/// </summary>
public sealed class ModelGraphTensorSource : ITensorSource
{
    private readonly string _directory;
    private readonly ModelConfig _config;
    private readonly Dictionary<string, int[]> _shapes;
    private string? _loadedFile;
    private Dictionary<string, FloatTensor> _loaded = new(StringComparer.Ordinal);

    /// <summary>Opens the model in <paramref name="directory"/> described by <paramref name="manifest"/>.</summary>
    /// <param name="directory">The model directory.</param>
    /// <param name="manifest">Its manifest (already validated).</param>
    public ModelGraphTensorSource(string directory, ModelManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        _directory = directory;
        _config = manifest.Config;
        _shapes = CheckpointTensorNames.Expected(_config).ToDictionary(e => e.Name, e => e.Shape, StringComparer.Ordinal);
    }

    /// <inheritdoc />
    public string Source => _directory;

    /// <inheritdoc />
    public int[]? ShapeOf(string name) => _shapes.GetValueOrDefault(name);

    /// <inheritdoc />
    public string DescribeName(string name) => name;

    /// <inheritdoc />
    public FloatTensor Read(string name)
    {
        if (!_shapes.TryGetValue(name, out int[]? shape))
        {
            throw new KeyNotFoundException($"{_directory}: the model has no tensor '{name}'.");
        }

        var (file, initializer, extract) = Locate(name, shape);
        var stored = Initializers(file);
        if (!stored.TryGetValue(initializer, out var tensor))
        {
            throw new InvalidDataException($"{Path.Combine(_directory, file)} has no float initializer '{initializer}' (needed for {name}); is the model already quantized?");
        }

        var result = extract(tensor);
        if (!result.Shape.AsSpan().SequenceEqual(shape))
        {
            throw new InvalidDataException($"{Path.Combine(_directory, file)}: '{initializer}' gives {name} the shape {result.ShapeText}, expected [{string.Join(", ", shape)}].");
        }

        return result;
    }

    // Which graph holds the tensor, under which initializer, and how the stored value becomes the checkpoint's.
    private (string File, string Initializer, Func<FloatTensor, FloatTensor> Extract) Locate(string name, int[] shape)
    {
        var c = _config;
        if (name == CheckpointTensorNames.TokenEmbeddings)
        {
            return (GraphNames.EmbedFile, "tok_embeddings", t => t);
        }

        if (name == CheckpointTensorNames.FinalNorm)
        {
            return (GraphNames.HeadFile, "norm", t => t);
        }

        if (name == CheckpointTensorNames.OutputHead)
        {
            return (GraphNames.HeadFile, "output_t", t => t.Transposed());
        }

        for (int l = 0; l < c.Layers; l++)
        {
            string qkv = GraphNames.QkvFile(l);
            string post = GraphNames.PostFile(l);
            int qw = c.QueryWidth;
            int kvw = c.KeyValueWidth;
            if (name == CheckpointTensorNames.AttentionNorm(l))
            {
                return (qkv, "attention_norm", t => t);
            }

            if (name == CheckpointTensorNames.Wq(l))
            {
                return (qkv, "wqkv_t", t => Columns(t, 0, qw).Transposed());
            }

            if (name == CheckpointTensorNames.Wk(l))
            {
                return (qkv, "wqkv_t", t => Columns(t, qw, kvw).Transposed());
            }

            if (name == CheckpointTensorNames.Wv(l))
            {
                return (qkv, "wqkv_t", t => Columns(t, qw + kvw, kvw).Transposed());
            }

            if (name == CheckpointTensorNames.QBias(l) || name == CheckpointTensorNames.KBias(l) || name == CheckpointTensorNames.VBias(l))
            {
                int start = name == CheckpointTensorNames.QBias(l) ? 0 : name == CheckpointTensorNames.KBias(l) ? qw : qw + kvw;
                return (qkv, "qkv_bias", t => new FloatTensor(shape, t.Data.AsSpan(start, shape[0]).ToArray()));
            }

            if (name == CheckpointTensorNames.QNorm(l))
            {
                return (qkv, "q_norm", t => t);
            }

            if (name == CheckpointTensorNames.KNorm(l))
            {
                return (qkv, "k_norm", t => t);
            }

            if (name == CheckpointTensorNames.Wo(l))
            {
                return (post, "wo_t", t => t.Transposed());
            }

            if (name == CheckpointTensorNames.FfnNorm(l))
            {
                return (post, "ffn_norm", t => t);
            }

            if (name == CheckpointTensorNames.Gate(l))
            {
                return (post, "gate_t", t => t.Transposed());
            }

            for (int j = 0; j < c.Experts; j++)
            {
                string expert = GraphNames.ExpertFile(l, j);
                int h = c.ExpertHidden;
                if (name == CheckpointTensorNames.ExpertW1(l, j))
                {
                    return (expert, "w13_t", t => Columns(t, 0, h).Transposed());
                }

                if (name == CheckpointTensorNames.ExpertW3(l, j))
                {
                    return (expert, "w13_t", t => Columns(t, h, h).Transposed());
                }

                if (name == CheckpointTensorNames.ExpertW2(l, j))
                {
                    return (expert, "w2_t", t => t.Transposed());
                }
            }

            string shared = GraphNames.SharedFile(l);
            int hs = c.SharedExpertHidden;
            if (name == CheckpointTensorNames.SharedW1(l))
            {
                return (shared, "w13_t", t => Columns(t, 0, hs).Transposed());
            }

            if (name == CheckpointTensorNames.SharedW3(l))
            {
                return (shared, "w13_t", t => Columns(t, hs, hs).Transposed());
            }

            if (name == CheckpointTensorNames.SharedW2(l))
            {
                return (shared, "w2_t", t => t.Transposed());
            }

            if (name == CheckpointTensorNames.SharedGate(l))
            {
                return (shared, "shared_gate_t", t => t.Transposed());
            }
        }

        throw new KeyNotFoundException($"No graph of the model holds '{name}'.");
    }

    private Dictionary<string, FloatTensor> Initializers(string file)
    {
        if (_loadedFile == file)
        {
            return _loaded;
        }

        string path = Path.Combine(_directory, file);
        ModelProto model;
        using (var stream = File.OpenRead(path))
        {
            model = ModelProto.Parser.ParseFrom(stream);
        }

        var tensors = new Dictionary<string, FloatTensor>(StringComparer.Ordinal);
        foreach (var initializer in model.Graph.Initializer)
        {
            int[] dims = initializer.Dims.Select(d => checked((int)d)).ToArray();
            var raw = initializer.RawData.Span;
            switch ((TensorProto.Types.DataType)initializer.DataType)
            {
                case TensorProto.Types.DataType.Float:
                    tensors[initializer.Name] = new FloatTensor(dims, MemoryMarshal.Cast<byte, float>(raw).ToArray());
                    break;
                case TensorProto.Types.DataType.Float16 when initializer.Name.EndsWith("_fp16", StringComparison.Ordinal):
                    var halves = MemoryMarshal.Cast<byte, Half>(raw);
                    float[] widened = new float[halves.Length];
                    System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(halves, widened);
                    tensors[initializer.Name[..^"_fp16".Length]] = new FloatTensor(dims, widened);
                    break;
            }
        }

        _loadedFile = file;
        _loaded = tensors;
        return tensors;
    }

    private static FloatTensor Columns(FloatTensor t, int start, int count)
    {
        int rows = t.Shape[0];
        int cols = t.Shape[1];
        float[] data = new float[rows * count];
        for (int r = 0; r < rows; r++)
        {
            t.Data.AsSpan((r * cols) + start, count).CopyTo(data.AsSpan(r * count, count));
        }

        return new FloatTensor([rows, count], data);
    }
}
