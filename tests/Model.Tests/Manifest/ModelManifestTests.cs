using MoeServe.Model.Export;
using MoeServe.Model.Tests.Support;
using MoeServe.TestSupport;

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
            Routing = manifest.Routing with { TopK = 3, Q = [new float[4], [float.NaN, 0, 0, 0], new float[2]] },
            Graphs = manifest.Graphs with { Layers = [manifest.Graphs.Layers[0] with { Experts = ["a.onnx"], Shared = null }] },
            EndOfTextId = 100000,
        };
        var errors = ModelManifestValidator.Validate(broken, directory: null);
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
    public void Load_FormatVersion1Manifest_RejectedWithReExportHint()
    {
        // A format-1 manifest (one dense graph per sequence) as the previous exporter wrote it.
        string path = Path.Combine(_modelDir, ModelManifest.FileName);
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        json["formatVersion"] = 1;
        foreach (var layer in json["graphs"]!["layers"]!.AsArray())
        {
            layer!.AsObject().Remove("qkv");
            layer.AsObject().Remove("post");
            layer.AsObject()["dense"] = "layer0.dense.onnx";
        }

        File.WriteAllText(path, json.ToJsonString());
        var ex = Assert.Throws<InvalidDataException>(() => ModelManifest.Load(_modelDir));
        Assert.Contains("formatVersion is 1; this build reads version 2", ex.Message, StringComparison.Ordinal);
        Assert.Contains("re-export", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("qkv", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_NewerFormatVersion_RejectedAlone()
    {
        var manifest = ModelManifest.Load(_modelDir) with { FormatVersion = 99 };
        var error = Assert.Single(ModelManifestValidator.Validate(manifest, _modelDir));
        Assert.Contains("formatVersion is 99", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_LayerWithoutQkvOrPost_NamesBoth()
    {
        var manifest = ModelManifest.Load(_modelDir);
        var broken = manifest with { Graphs = manifest.Graphs with { Layers = [manifest.Graphs.Layers[0] with { Qkv = "", Post = " " }, .. manifest.Graphs.Layers.Skip(1)] } };
        var errors = ModelManifestValidator.Validate(broken, directory: null);
        Assert.Contains("graphs.layers[0].qkv is missing.", errors);
        Assert.Contains("graphs.layers[0].post is missing.", errors);
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
