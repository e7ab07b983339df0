using System.Text.Json.Nodes;
using MoeServe.Model.Export;
using MoeServe.Model.Tests.Support;
using MoeServe.TestSupport;

namespace MoeServe.Model.Tests.Manifest;

/// <summary>A calibrated q, its source and the previous q survive the manifest's JSON; restore swaps them back.</summary>
public sealed class ManifestQUpdateTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly string _modelDir;

    public ManifestQUpdateTests()
    {
        var layout = TinyCheckpoint.CreateRandom(_temp.Sub("ckpt"), TinyCheckpoint.DefaultConfig, seed: 3);
        _modelDir = _temp.Sub("model");
        new CheckpointExporter().Export(new ExportOptions { CheckpointDirectory = layout.Directory, OutputDirectory = _modelDir });
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void WithCalibratedQ_SavedAndLoaded_KeepsQSourceAndPreviousQ()
    {
        var exported = ModelManifest.Load(_modelDir);
        var q = exported.Routing.Q.Select((v, l) => v.Select((x, j) => (l * 10f) + j + 0.5f).ToArray()).ToArray();
        var source = new ManifestQSource { Data = "data/corpus/train.txt", Tokens = 4096, BatchTokens = 512, Iterations = 4, AverageWindow = 500, StartedFromPrevious = true, CreatedUtc = new DateTimeOffset(2026, 12, 3, 2, 0, 0, TimeSpan.Zero) };

        ManifestQUpdate.WithCalibratedQ(exported, q, source).Save(_modelDir);
        var loaded = ModelManifest.Load(_modelDir);

        Assert.Equal(q, loaded.Routing.Q);
        Assert.Equal("bip", loaded.Routing.Method);
        Assert.Equal(source, loaded.Routing.QSource);
        Assert.NotNull(loaded.Routing.PreviousQ);
        Assert.Equal(exported.Routing.Q, loaded.Routing.PreviousQ!.Q);
        Assert.Equal(exported.Routing.Method, loaded.Routing.PreviousQ.Method);
        Assert.Null(loaded.Routing.PreviousQ.QSource);
        Assert.Contains("4096 tokens of train.txt", loaded.Routing.DescribeSource(), StringComparison.Ordinal);
    }

    [Fact]
    public void Restore_ServesThePreviousQ_AndASecondRestoreUndoesIt()
    {
        var exported = ModelManifest.Load(_modelDir);
        var q = exported.Routing.Q.Select(v => v.Select(x => x + 1f).ToArray()).ToArray();
        var calibrated = ManifestQUpdate.WithCalibratedQ(exported, q, new ManifestQSource { Data = "x.txt", Tokens = 10 });

        var restored = ManifestQUpdate.Restore(calibrated);
        Assert.Equal(exported.Routing.Q, restored.Routing.Q);
        Assert.Null(restored.Routing.QSource);
        Assert.Equal(q, restored.Routing.PreviousQ!.Q);

        var again = ManifestQUpdate.Restore(restored);
        Assert.Equal(q, again.Routing.Q);
        Assert.Equal("x.txt", again.Routing.QSource!.Data);
        Assert.Throws<InvalidOperationException>(() => ManifestQUpdate.Restore(exported));
    }

    [Fact]
    public void Load_ManifestWithoutQSource_StillLoads_AndABadPreviousQIsListed()
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(_modelDir, ModelManifest.FileName)))!;
        Assert.Null(json["routing"]!["qSource"]);
        Assert.Null(json["routing"]!["previousQ"]);
        Assert.Null(ModelManifest.Load(_modelDir).Routing.QSource);

        json["routing"]!["previousQ"] = JsonNode.Parse("""{ "method": "bip", "q": [[1, 2]] }""");
        File.WriteAllText(Path.Combine(_modelDir, ModelManifest.FileName), json.ToJsonString());
        var error = Assert.Throws<InvalidDataException>(() => ModelManifest.Load(_modelDir));
        Assert.Contains("routing.previousQ.q has 1 vectors", error.Message, StringComparison.Ordinal);
        Assert.Contains("routing.previousQ.q[0] has 2 values", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WithCalibratedQ_WrongShape_Throws()
    {
        var exported = ModelManifest.Load(_modelDir);
        Assert.Throws<ArgumentException>(() => ManifestQUpdate.WithCalibratedQ(exported, [new float[1]], new ManifestQSource { Data = "x" }));
    }
}
