using MoeServe.Model;
using MoeServe.Model.Export;
using MoeServe.Model.Quantization;
using MoeServe.Model.Reference;
using MoeServe.TestSupport;

namespace MoeServe.Runtime.Tests.Support;

/// <summary>A random-weight checkpoint exported to ONNX in a temp directory, with its managed reference model.</summary>
public sealed class TinyModel : IDisposable
{
    private readonly Lazy<ReferenceMoeModel> _reference;
    private readonly Lazy<ReferenceMoeModel> _referencePlain;

    // The references are built when first asked for: they cover MoeServe's own architecture only, and a test of an
    // imported family's structure (q/k norm, untied head) uses the model without them.
    private TinyModel(string root, string modelDirectory, ModelConfig config, Func<ReferenceMoeModel> reference, Func<ReferenceMoeModel> referencePlain, IReadOnlyList<float[]> q)
    {
        Root = root;
        ModelDirectory = modelDirectory;
        Config = config;
        _reference = new Lazy<ReferenceMoeModel>(reference);
        _referencePlain = new Lazy<ReferenceMoeModel>(referencePlain);
        Q = q;
    }

    public string Root { get; }

    public string ModelDirectory { get; }

    public ModelConfig Config { get; }

    /// <summary>Reference with the trained q (what Routing = Trained computes).</summary>
    public ReferenceMoeModel Reference => _reference.Value;

    /// <summary>Reference with q = 0 (what Routing = TopK computes).</summary>
    public ReferenceMoeModel ReferencePlainTopK => _referencePlain.Value;

    public IReadOnlyList<float[]> Q { get; }

    public static TinyModel Create(ModelConfig config, int seed, TensorDType weightType = TensorDType.Float32, float qScale = 0.2f, QuantizationSettings? quantization = null)
    {
        string root = Path.Combine(Path.GetTempPath(), "moeserve-runtime-tests", Guid.NewGuid().ToString("N"));
        string checkpoint = Path.Combine(root, "checkpoint");
        string model = Path.Combine(root, "model");
        var layout = TinyCheckpoint.CreateRandom(checkpoint, config, seed, new RandomCheckpointOptions { QScale = qScale });
        new CheckpointExporter().Export(new ExportOptions { CheckpointDirectory = checkpoint, OutputDirectory = model, WeightType = weightType, Name = "tiny", Quantization = quantization });
        var manifest = ModelManifest.Load(model);
        var weights = SafeTensorsFile.Read(layout.WeightsPath);
        return new TinyModel(root, model, config, () => new ReferenceMoeModel(config, weights, manifest.Routing.Q), () => new ReferenceMoeModel(config, weights), manifest.Routing.Q);
    }

    /// <summary>
    /// Options for this model with a float32 KV cache: the parity tests compare with the reference to 1e-4, which the
    /// default float16 cache does not hold (about 2e-3); the float16 cache has its own tests.
    /// </summary>
    /// <param name="change">Changes to apply on top.</param>
    public RuntimeOptions Options(Func<RuntimeOptions, RuntimeOptions>? change = null)
    {
        var options = new RuntimeOptions { ModelPath = ModelDirectory, MaxBatchTokens = 256, MaxSequences = 16, KvCacheDType = KvCacheDType.Float32 };
        return change is null ? options : change(options);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>One tiny float32 model shared by the tests of a class.</summary>
public sealed class TinyModelFixture : IDisposable
{
    public TinyModelFixture()
    {
        Model = TinyModel.Create(TinyCheckpoint.DefaultConfig, seed: 7);
    }

    public TinyModel Model { get; }

    public void Dispose() => Model.Dispose();
}

/// <summary>Helpers to compare logits.</summary>
public static class Logits
{
    public static float MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        float max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            max = Math.Max(max, Math.Abs(a[i] - b[i]));
        }

        return max;
    }

    /// <summary>The reference model's logits for the last token of <paramref name="tokens"/>.</summary>
    public static float[] ReferenceLast(ReferenceMoeModel reference, IReadOnlyList<int> tokens)
    {
        var all = reference.Forward(tokens.Select(t => (long)t).ToArray());
        int v = reference.Config.VocabSize;
        return all.AsSpan((tokens.Count - 1) * v, v).ToArray();
    }
}
