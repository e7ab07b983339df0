using MoeServe.Model.Quantization;
using MoeServe.Model.Tests.Support;
using Onnx;

namespace MoeServe.Model.Tests.Quantization;

public sealed class QuantizedModelTests(QuantizedTinyModel model) : IClassFixture<QuantizedTinyModel>
{
    private ModelConfig Config => model.Config;

    [Fact]
    public void QuantizedGraphs_AccuracyLevel1_ComputeTheDequantizedWeights()
    {
        // Proves the wiring (row stacking of Q/K/V and W1/W3, which matrices are quantized) on every graph kind.
        var reference = model.DequantizedInt4Reference;
        float[] x = RandomRows(5, seed: 1);
        long[] positions = [0, 1, 2, 3, 4];
        for (int l = 0; l < Config.Layers; l++)
        {
            for (int j = 0; j < Config.Experts; j++)
            {
                var y = model.Graph(QuantizedTinyModel.Int4ExactDir, GraphNames.ExpertFile(l, j)).Run((GraphNames.ExpertInput, x, [5, Config.DModel]))[GraphNames.ExpertOutput];
                Close.Equal(reference.Expert(l, j, x), y.Data, 1e-4f, $"layer {l} expert {j}");
            }

            var shared = model.Graph(QuantizedTinyModel.Int4ExactDir, GraphNames.SharedFile(l)).Run((GraphNames.ExpertInput, x, [5, Config.DModel]))[GraphNames.ExpertOutput];
            Close.Equal(reference.Shared(l, x), shared.Data, 1e-4f, $"layer {l} shared");

            var qkv = model.Graph(QuantizedTinyModel.Int4ExactDir, GraphNames.QkvFile(l)).Run((GraphNames.Hidden, x, [5, Config.DModel]), (GraphNames.Positions, positions, [5]));
            var expected = reference.Qkv(l, x, positions);
            Close.Equal(expected.Query, qkv[GraphNames.Query].Data, 1e-4f, $"layer {l} query");
            Close.Equal(expected.Key, qkv[GraphNames.Key].Data, 1e-4f, $"layer {l} key");
            Close.Equal(expected.Value, qkv[GraphNames.Value].Data, 1e-4f, $"layer {l} value");

            var post = model.Graph(QuantizedTinyModel.Int4ExactDir, GraphNames.PostFile(l)).Run((GraphNames.Hidden, x, [5, Config.DModel]), (GraphNames.Attention, x, [5, Config.QueryWidth]));
            var dense = reference.Post(l, x, x);
            Close.Equal(dense.Residual, post[GraphNames.Residual].Data, 1e-4f, $"layer {l} residual");
            Close.Equal(dense.RouterLogits, post[GraphNames.RouterLogits].Data, 1e-4f, $"layer {l} router logits");
        }
    }

    [Theory]
    [InlineData(QuantizedTinyModel.Int8Dir, 0.03)]
    [InlineData(QuantizedTinyModel.Int4Dir, 0.3)]
    public void QuantizedModel_Logits_CloseToFloatTwin(string dir, double bound)
    {
        // Bound: the largest logit error relative to the largest |logit| over a 24-token prompt. Measured on
        // this model: 0.95% at int8 and 15% at int4. A tiny random model is the worst case (d = 32, so one
        // block is a whole row, and uniform random weights use the 16 levels poorly; models/default's int4
        // perplexity moves 0.6%, docs/benchmarks.md); a mis-packed matrix gives errors of order 100%.
        long[] tokens = Enumerable.Range(0, 24).Select(i => (long)((i * 37) % Config.VocabSize)).ToArray();
        float[] expected = model.Pipeline(QuantizedTinyModel.Float32Dir).Step(tokens);
        float[] actual = model.Pipeline(dir).Step(tokens);
        float largest = expected.Max(Math.Abs);
        float maxError = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(maxError / largest <= bound, $"{dir}: max |logit error| {maxError} = {maxError / largest:P2} of the largest |logit| {largest}, bound {bound:P0}");
        Assert.True(maxError > 0, "a quantized model computing exactly the float logits means nothing was quantized");
    }

    [Fact]
    public void QuantizedModel_AccuracyLevel1_LogitsMatchReferenceOverDequantizedWeights()
    {
        long[] tokens = Enumerable.Range(0, 16).Select(i => (long)((i * 53) % Config.VocabSize)).ToArray();
        float[] expected = model.DequantizedInt4Reference.Forward(tokens);
        float[] actual = model.Pipeline(QuantizedTinyModel.Int4ExactDir).Step(tokens);
        Close.Equal(expected, actual, 1e-3f, "int4 (accuracy_level 1) logits vs the reference over dequantized weights");
    }

    [Fact]
    public void QuantizedExport_ManifestAndGraphs_RecordTheMode()
    {
        var manifest = ModelManifest.Load(model.Path(QuantizedTinyModel.Int4Dir));
        Assert.Equal(WeightQuantization.Int4, manifest.Weights);
        Assert.Equal(32, manifest.Quantization!.BlockSize);
        Assert.Equal(WeightQuantization.Float, ModelManifest.Load(model.Path(QuantizedTinyModel.Float32Dir)).Weights);
        Assert.DoesNotContain("quantization", File.ReadAllText(Path.Combine(model.Path(QuantizedTinyModel.Float32Dir), ModelManifest.FileName)), StringComparison.Ordinal);

        Assert.Equal(2, CountOps(QuantizedTinyModel.Int4Dir, GraphNames.ExpertFile(0, 0), "MatMulNBits"));
        Assert.Equal(0, CountOps(QuantizedTinyModel.Int4Dir, GraphNames.ExpertFile(0, 0), "MatMul"));
        Assert.Equal(1, CountOps(QuantizedTinyModel.Int4Dir, GraphNames.PostFile(0), "MatMulNBits"));
        Assert.Equal(1, CountOps(QuantizedTinyModel.Int4Dir, GraphNames.PostFile(0), "MatMul")); // the router gate stays float
        Assert.Equal(0, CountOps(QuantizedTinyModel.Int4Dir, GraphNames.HeadFile, "MatMulNBits"));
        Assert.Equal(0, CountOps(QuantizedTinyModel.Float32Dir, GraphNames.ExpertFile(0, 0), "MatMulNBits"));
    }

    [Fact]
    public void ModelGraphTensorSource_Float32Export_GivesBackEveryCheckpointTensor()
    {
        string dir = model.Path(QuantizedTinyModel.Float32Dir);
        var source = new ModelGraphTensorSource(dir, ModelManifest.Load(dir));
        foreach (var (name, shape) in CheckpointTensorNames.Expected(Config))
        {
            var tensor = source.Read(name);
            Assert.Equal(shape, tensor.Shape);
            Assert.True(model.Weights.Read(name).Data.AsSpan().SequenceEqual(tensor.Data), name);
        }
    }

    [Fact]
    public void Quantize_Float32Export_WritesTheSameGraphsAsAQuantizedExport()
    {
        using var temp = new TempDirectory();
        string output = temp.Sub("int8");
        var result = new ModelQuantizer().Quantize(model.Path(QuantizedTinyModel.Float32Dir), output, QuantizationSettings.For(WeightQuantization.Int8)!);

        Assert.Equal(WeightQuantization.Int8, ModelManifest.Load(output).Weights);
        Assert.True(result.TotalBytes < result.SourceBytes, $"{result.TotalBytes} >= {result.SourceBytes}");
        Assert.InRange(result.Error.RelativeRms, 1e-4, 0.02);
        foreach (string file in ModelManifest.Load(output).ReferencedFiles())
        {
            Assert.True(File.ReadAllBytes(Path.Combine(model.Path(QuantizedTinyModel.Int8Dir), file)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(output, file))), file);
        }
    }

    [Fact]
    public void Quantize_AlreadyQuantizedOrNonEmptyOut_RefusedNamingTheFlag()
    {
        using var temp = new TempDirectory();
        var settings = QuantizationSettings.For(WeightQuantization.Int4)!;
        var again = Assert.Throws<InvalidDataException>(() => new ModelQuantizer().Quantize(model.Path(QuantizedTinyModel.Int8Dir), temp.Sub("x"), settings));
        Assert.Contains("--model", again.Message, StringComparison.Ordinal);
        Assert.Contains("already int8", again.Message, StringComparison.Ordinal);

        var busy = Assert.Throws<InvalidDataException>(() => new ModelQuantizer().Quantize(model.Path(QuantizedTinyModel.Float32Dir), model.Path(QuantizedTinyModel.Int8Dir), settings));
        Assert.Contains("--out", busy.Message, StringComparison.Ordinal);
    }

    private int CountOps(string dir, string file, string opType)
    {
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(model.Path(dir), file)));
        return proto.Graph.Node.Count(n => n.OpType == opType);
    }

    private float[] RandomRows(int rows, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, rows * Config.DModel).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
    }
}
