using MoeServe.Model.Export;
using MoeServe.Model.Onnx;
using MoeServe.Model.Reference;
using MoeServe.TestSupport;

namespace MoeServe.Model.Tests.Support;

/// <summary>A tiny random checkpoint exported once in float32 and once in float16, with a reference model.</summary>
public sealed class ExportedTinyModel : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly Dictionary<string, OrtGraph> _graphs = new();

    public ExportedTinyModel()
        : this(TinyCheckpoint.DefaultConfig with { SharedExpertHidden = 8 })
    {
    }

    internal ExportedTinyModel(ModelConfig config)
    {
        Config = config;
        Checkpoint = TinyCheckpoint.CreateRandom(_temp.Sub("ckpt"), config, seed: 1234);
        Weights = SafeTensorsFile.Read(Checkpoint.WeightsPath);
        Q = BalancingFile.Read(Checkpoint.BalancingPath, config).Q;
        Reference = new ReferenceMoeModel(config, Weights, Q);
        var exporter = new CheckpointExporter();
        Float32Dir = _temp.Sub("m32");
        Float16Dir = _temp.Sub("m16");
        Float32 = exporter.Export(new ExportOptions { CheckpointDirectory = Checkpoint.Directory, OutputDirectory = Float32Dir, WeightType = TensorDType.Float32 });
        Float16 = exporter.Export(new ExportOptions { CheckpointDirectory = Checkpoint.Directory, OutputDirectory = Float16Dir, WeightType = TensorDType.Float16 });

        // The same checkpoint with the weights export stores as float16 rounded: what the float16 graphs compute exactly.
        var rounded = Weights.Tensors.ToDictionary(
            p => p.Key,
            p => MoeGraphFactory.StoredType(p.Key, TensorDType.Float16) == TensorDType.Float16
                ? new FloatTensor(p.Value.Shape, p.Value.Data.Select(v => (float)(Half)v).ToArray())
                : p.Value);
        RoundedReference = new ReferenceMoeModel(config, SafeTensorsContent.FromTensors(rounded), Q);
    }

    public ModelConfig Config { get; }

    public CheckpointLayout Checkpoint { get; }

    public SafeTensorsContent Weights { get; }

    public float[][] Q { get; }

    public ReferenceMoeModel Reference { get; }

    public ReferenceMoeModel RoundedReference { get; }

    public string Float32Dir { get; }

    public string Float16Dir { get; }

    public ExportResult Float32 { get; }

    public ExportResult Float16 { get; }

    internal OrtGraph Graph(TensorDType dtype, string file)
    {
        string path = System.IO.Path.Combine(dtype == TensorDType.Float32 ? Float32Dir : Float16Dir, file);
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

    public void Dispose()
    {
        foreach (var graph in _graphs.Values)
        {
            graph.Dispose();
        }

        _temp.Dispose();
    }
}
