using MoeServe.Model.Export;
using MoeServe.Model.Quantization;
using MoeServe.Model.Reference;
using MoeServe.Model.Tests.Support;
using MoeServe.TestSupport;

namespace MoeServe.Model.Tests.Quantization;

/// <summary>
/// One tiny random checkpoint exported as float32 and with int8 / int4 matrices (default settings, and
/// int4 at accuracy_level 1, which computes in float32 on the dequantized weights), plus a reference
/// model over the dequantized weights: what the quantized graphs should compute.
/// </summary>
public sealed class QuantizedTinyModel : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly Dictionary<string, OrtGraph> _graphs = new();

    public QuantizedTinyModel()
    {
        // With a shared expert: every kind of quantized graph (the reference covers MoeServe's own architecture only).
        Config = TinyCheckpoint.DefaultConfig with { SharedExpertHidden = 8 };
        Checkpoint = TinyCheckpoint.CreateRandom(_temp.Sub("ckpt"), Config, seed: 4321);
        Weights = SafeTensorsFile.Read(Checkpoint.WeightsPath);
        float[][] q = BalancingFile.Read(Checkpoint.BalancingPath, Config).Q;
        Reference = new ReferenceMoeModel(Config, Weights, q);
        Int4Exact = QuantizationSettings.For(WeightQuantization.Int4)! with { AccuracyLevel = 1 };
        var exporter = new CheckpointExporter();
        foreach (var (dir, settings) in new[] { (Float32Dir, (QuantizationSettings?)null), (Int8Dir, QuantizationSettings.For(WeightQuantization.Int8)), (Int4Dir, QuantizationSettings.For(WeightQuantization.Int4)), (Int4ExactDir, Int4Exact) })
        {
            exporter.Export(new ExportOptions { CheckpointDirectory = Checkpoint.Directory, OutputDirectory = Path(dir), WeightType = TensorDType.Float32, Quantization = settings });
        }

        // Per tensor: quantization runs along each row, so stacking rows (Q/K/V, W1/W3) quantizes them the same.
        var dequantized = Weights.Tensors.ToDictionary(
            p => p.Key,
            p => IsQuantized(p.Key)
                ? new FloatTensor(p.Value.Shape, BlockwiseQuantizer.Dequantize(Int4Exact.Quantize(p.Value.Data, p.Value.Shape[0], p.Value.Shape[1])))
                : p.Value);
        DequantizedInt4Reference = new ReferenceMoeModel(Config, SafeTensorsContent.FromTensors(dequantized), q);
    }

    public const string Float32Dir = "float32";

    public const string Int8Dir = "int8";

    public const string Int4Dir = "int4";

    public const string Int4ExactDir = "int4-level1";

    public ModelConfig Config { get; }

    public CheckpointLayout Checkpoint { get; }

    public SafeTensorsContent Weights { get; }

    public ReferenceMoeModel Reference { get; }

    public QuantizationSettings Int4Exact { get; }

    public ReferenceMoeModel DequantizedInt4Reference { get; }

    public string Path(string dir) => _temp.Sub(dir);

    /// <summary>Which checkpoint tensors the quantized export stores as MatMulNBits weights.</summary>
    public static bool IsQuantized(string name) =>
        name.Contains(".moe.experts.", StringComparison.Ordinal)
        || name.Contains(".moe.shared_expert.", StringComparison.Ordinal)
        || (name.Contains(".attention.w", StringComparison.Ordinal) && name.EndsWith(".weight", StringComparison.Ordinal));

    internal OrtGraph Graph(string dir, string file)
    {
        string path = System.IO.Path.Combine(Path(dir), file);
        lock (_graphs)
        {
            if (!_graphs.TryGetValue(path, out var graph))
            {
                graph = new OrtGraph(path);
                _graphs[path] = graph;
            }

            return graph;
        }
    }

    internal OnnxPipeline Pipeline(string dir) => new(Config, Reference, file => Graph(dir, file));

    public void Dispose()
    {
        foreach (var graph in _graphs.Values)
        {
            graph.Dispose();
        }

        _temp.Dispose();
    }
}
