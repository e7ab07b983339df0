using MoeServe.Model.Export;
using MoeServe.Model.Tests.Support;
using MoeServe.Router;
using MoeServe.TestSupport;

namespace MoeServe.Model.Tests.Export;

public sealed class CheckpointExporterTests
{
    private static readonly ModelConfig Config = TinyCheckpoint.DefaultConfig;

    [Fact]
    public void Export_TinyCheckpoint_WritesEveryGraphAndValidManifest()
    {
        using var temp = new TempDirectory();
        var layout = TinyCheckpoint.CreateRandom(temp.Sub("ckpt"), Config, seed: 5);
        var progress = new List<ExportProgress>();
        var result = new CheckpointExporter().Export(
            new ExportOptions { CheckpointDirectory = layout.Directory, OutputDirectory = temp.Sub("out"), WeightType = TensorDType.Float32 },
            new SynchronousProgress(progress));

        int graphs = 2 + (Config.Layers * (2 + Config.Experts)); // embed, head; per layer qkv, post and the experts
        Assert.Equal(graphs + 3, result.Files);
        Assert.Equal(result.Files, progress.Count);
        Assert.Equal(Enumerable.Range(1, result.Files), progress.Select(p => p.Done));
        Assert.All(progress, p => Assert.Equal(result.Files, p.Total));

        var manifest = ModelManifest.Load(temp.Sub("out"));
        Assert.Equal("out", manifest.Name);
        Assert.Equal(Config, manifest.Config);
        Assert.Equal(TensorDType.Float32, manifest.WeightDType);
        Assert.Equal(GraphNames.ExpertFile(1, 3), manifest.Graphs.Layers[1].Experts[3]);
        Assert.Null(manifest.Graphs.Layers[0].Shared);
        Assert.Equal(result.TotalBytes, Directory.EnumerateFiles(temp.Sub("out")).Sum(f => new FileInfo(f).Length));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Export_CheckpointWithAveragedQ_ServesItUnlessLastQIsAsked(bool useLastQ)
    {
        using var temp = new TempDirectory();
        var layout = TinyCheckpoint.CreateRandom(temp.Sub("ckpt"), Config, seed: 9, new RandomCheckpointOptions { Method = "bip" });
        var (_, last) = BalancingFile.Read(layout.BalancingPath, Config);
        float[][] averaged = last.Select(layer => layer.Select(v => (v * 0.5f) + 0.25f).ToArray()).ToArray();
        BalancingFile.Write(layout.AverageBalancingPath, "bip", averaged);

        new CheckpointExporter().Export(new ExportOptions { CheckpointDirectory = layout.Directory, OutputDirectory = temp.Sub("m"), UseLastQ = useLastQ });

        Assert.Equal(useLastQ ? last : averaged, ModelManifest.Load(temp.Sub("m")).Routing.Q);
    }

    [Fact]
    public void Export_Manifest_CarriesRoutingTokensAndTrainingSummary()
    {
        using var temp = new TempDirectory();
        var layout = TinyCheckpoint.CreateRandom(temp.Sub("ckpt"), Config with { ScoreFunction = ScoreFunction.Sigmoid, Renormalize = false }, seed: 9, new RandomCheckpointOptions { Method = "lossfree" });
        var (method, q) = BalancingFile.Read(layout.BalancingPath, Config);
        var time = new FixedTime(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));
        new CheckpointExporter(time).Export(new ExportOptions { CheckpointDirectory = layout.Directory, OutputDirectory = temp.Sub("m"), Name = "tiny" });

        var manifest = ModelManifest.Load(temp.Sub("m"));
        Assert.Equal("tiny", manifest.Name);
        Assert.Equal(TensorDType.Float16, manifest.WeightDType);
        Assert.Equal("lossfree", method);
        Assert.Equal(method, manifest.Routing.Method);
        Assert.Equal(ScoreFunction.Sigmoid, manifest.Routing.ScoreFunction);
        Assert.False(manifest.Routing.Renormalize);
        Assert.Equal(Config.TopK, manifest.Routing.TopK);
        Assert.Equal(q, manifest.Routing.Q);
        Assert.Contains(manifest.Routing.Q, v => v.Any(x => x != 0));
        Assert.Equal(TinyCheckpoint.ByteTokenizerEndOfTextId, manifest.EndOfTextId);
        Assert.Equal(TinyCheckpoint.ByteTokenizerEndOfTextId, manifest.SpecialTokens["<|endoftext|>"]);
        Assert.Equal("lossfree", (string?)manifest.Training!["method"]);
        Assert.Equal(0, (int?)manifest.Training["steps"]);
        Assert.Equal(time.GetUtcNow(), manifest.Export!.CreatedUtc);
        Assert.True(File.Exists(Path.Combine(temp.Sub("m"), manifest.Tokenizer.Vocabulary)));
        Assert.Contains("\"<|endoftext|>\"", File.ReadAllText(Path.Combine(temp.Sub("m"), ModelManifest.FileName)), StringComparison.Ordinal);
    }

    [Fact]
    public void Export_Float16_HalvesTheGraphBytes()
    {
        using var temp = new TempDirectory();
        var layout = TinyCheckpoint.CreateRandom(temp.Sub("ckpt"), Config with { ExpertHidden = 64 }, seed: 2);
        var exporter = new CheckpointExporter();
        var full = exporter.Export(new ExportOptions { CheckpointDirectory = layout.Directory, OutputDirectory = temp.Sub("f32"), WeightType = TensorDType.Float32 });
        var half = exporter.Export(new ExportOptions { CheckpointDirectory = layout.Directory, OutputDirectory = temp.Sub("f16"), WeightType = TensorDType.Float16 });
        long expert32 = new FileInfo(Path.Combine(temp.Sub("f32"), GraphNames.ExpertFile(0, 0))).Length;
        long expert16 = new FileInfo(Path.Combine(temp.Sub("f16"), GraphNames.ExpertFile(0, 0))).Length;
        Assert.InRange(expert16, expert32 * 0.45, expert32 * 0.6);
        Assert.True(half.TotalBytes < full.TotalBytes * 0.7, $"float16 {half.TotalBytes} vs float32 {full.TotalBytes}");
    }

    [Fact]
    public void Export_WithoutBalancingOrSummary_UsesZeroQAndNoTraining()
    {
        using var temp = new TempDirectory();
        var layout = TinyCheckpoint.CreateRandom(temp.Sub("ckpt"), Config, seed: 3, new RandomCheckpointOptions { WriteBalancing = false, WriteSummary = false });
        new CheckpointExporter().Export(new ExportOptions { CheckpointDirectory = layout.Directory, OutputDirectory = temp.Sub("m") });
        var manifest = ModelManifest.Load(temp.Sub("m"));
        Assert.Equal("none", manifest.Routing.Method);
        Assert.All(manifest.Routing.Q, v => Assert.All(v, x => Assert.Equal(0f, x)));
        Assert.Null(manifest.Training);
    }

    [Fact]
    public void Export_BrokenCheckpoint_ListsEveryProblemAndWritesNothing()
    {
        using var temp = new TempDirectory();
        var layout = TinyCheckpoint.CreateRandom(temp.Sub("ckpt"), Config, seed: 4);
        File.Delete(layout.TokenizerTiktokenPath);
        BalancingFile.Write(layout.BalancingPath, "bip", [new float[Config.Experts]]);
        var weights = SafeTensorsFile.Read(layout.WeightsPath).Tensors.ToDictionary(p => p.Key, p => p.Value);
        weights.Remove(CheckpointTensorNames.Wo(1));
        weights[CheckpointTensorNames.Gate(0)] = FloatTensor.Zeros(Config.Experts + 1, Config.DModel);
        SafeTensorsFile.Write(layout.WeightsPath, weights);

        var ex = Assert.Throws<InvalidDataException>(() => new CheckpointExporter().Export(new ExportOptions { CheckpointDirectory = layout.Directory, OutputDirectory = temp.Sub("m") }));
        Assert.Contains(CheckpointLayout.TokenizerTiktokenFileName, ex.Message, StringComparison.Ordinal);
        Assert.Contains(CheckpointTensorNames.Wo(1), ex.Message, StringComparison.Ordinal);
        Assert.Contains(CheckpointTensorNames.Gate(0), ex.Message, StringComparison.Ordinal);
        Assert.Contains("balancing", ex.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(temp.Sub("m")));
    }

    [Fact]
    public void Export_ReExportWithFewerLayers_RemovesStaleGraphs()
    {
        using var temp = new TempDirectory();
        var exporter = new CheckpointExporter();
        var big = TinyCheckpoint.CreateRandom(temp.Sub("big"), Config with { Layers = 3 }, seed: 1);
        exporter.Export(new ExportOptions { CheckpointDirectory = big.Directory, OutputDirectory = temp.Sub("m") });
        var small = TinyCheckpoint.CreateRandom(temp.Sub("small"), Config with { Layers = 1 }, seed: 1);
        exporter.Export(new ExportOptions { CheckpointDirectory = small.Directory, OutputDirectory = temp.Sub("m") });
        Assert.False(File.Exists(Path.Combine(temp.Sub("m"), GraphNames.QkvFile(2))));
        Assert.False(File.Exists(Path.Combine(temp.Sub("m"), GraphNames.PostFile(2))));
        Assert.Single(ModelManifest.Load(temp.Sub("m")).Graphs.Layers);
    }

    [Fact]
    public void Validate_BadOptions_ListsEveryFlag()
    {
        var errors = new ExportOptions { CheckpointDirectory = "/definitely/not/here", OutputDirectory = " ", Name = " " }.Validate();
        Assert.Contains(errors, e => e.StartsWith("--checkpoint", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("--out", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("--name", StringComparison.Ordinal));
    }

    private sealed class SynchronousProgress(List<ExportProgress> sink) : IProgress<ExportProgress>
    {
        public void Report(ExportProgress value) => sink.Add(value);
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
