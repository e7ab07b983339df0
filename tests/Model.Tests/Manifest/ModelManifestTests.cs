using MoeServe.Model.Export;
using MoeServe.Model.Testing;
using MoeServe.Model.Tests.Support;

namespace MoeServe.Model.Tests.Manifest;

public sealed class ModelManifestTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly string _modelDir;

    public ModelManifestTests()
    {
        var layout = TinyCheckpoint.CreateRandom(_temp.Sub("ckpt"), TinyCheckpoint.DefaultConfig with { SharedExpertHidden = 8 }, seed: 1);
        _modelDir = _temp.Sub("model");
        new CheckpointExporter().Export(new ExportOptions { CheckpointDirectory = layout.Directory, OutputDirectory = _modelDir });
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void FromJson_RoundTrip_PreservesEverything()
    {
        var manifest = ModelManifest.Load(_modelDir);
        var again = ModelManifest.FromJson(manifest.ToJson());
        Assert.Equal(manifest.ToJson(), again.ToJson());
        Assert.Equal(manifest.Config, again.Config);
        Assert.Equal(GraphNames.SharedFile(1), again.Graphs.Layers[1].Shared);
    }

    [Fact]
    public void Load_MissingFiles_NamesEachOne()
    {
        File.Delete(Path.Combine(_modelDir, GraphNames.ExpertFile(0, 2)));
        File.Delete(Path.Combine(_modelDir, GraphNames.SharedFile(1)));
        File.Delete(Path.Combine(_modelDir, CheckpointLayout.TokenizerJsonFileName));
        var ex = Assert.Throws<InvalidDataException>(() => ModelManifest.Load(_modelDir));
        Assert.Contains(GraphNames.ExpertFile(0, 2), ex.Message, StringComparison.Ordinal);
        Assert.Contains(GraphNames.SharedFile(1), ex.Message, StringComparison.Ordinal);
        Assert.Contains(CheckpointLayout.TokenizerJsonFileName, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_InconsistentManifest_ListsEveryProblem()
    {
        var manifest = ModelManifest.Load(_modelDir);
        var broken = manifest with
        {
            FormatVersion = 99,
            Routing = manifest.Routing with { TopK = 3, Q = [new float[4], [float.NaN, 0, 0, 0], new float[2]] },
            Graphs = manifest.Graphs with { Layers = [manifest.Graphs.Layers[0] with { Experts = ["a.onnx"], Shared = null }] },
            EndOfTextId = 100000,
        };
        var errors = ModelManifestValidator.Validate(broken, directory: null);
        Assert.Contains(errors, e => e.Contains("formatVersion", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("routing.topK", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("routing.q has 3", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("routing.q[1] contains a non-finite", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("routing.q[2] has 2", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("graphs.layers has 1", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("graphs.layers[0].experts has 1", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("graphs.layers[0].shared is missing", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("endOfTextId", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_PathEscapingModelDirectory_Rejected()
    {
        var manifest = ModelManifest.Load(_modelDir);
        var escaping = manifest with { Graphs = manifest.Graphs with { Embed = "../embed.onnx" } };
        Assert.Contains(ModelManifestValidator.Validate(escaping, _modelDir), e => e.Contains("../embed.onnx", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_NoManifest_ThrowsFileNotFoundWithHint()
    {
        var ex = Assert.Throws<FileNotFoundException>(() => ModelManifest.Load(_temp.Sub("ckpt")));
        Assert.Contains("export", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_ChatMessages_EndsWithAssistantPrefix()
    {
        var template = new ChatTemplate();
        string prompt = template.Render([("system", "Be brief."), ("user", "Who made light?")]);
        Assert.Equal("System: Be brief.\n\nUser: Who made light?\n\nAssistant:", prompt);
    }
}
