using System.Text.Json.Nodes;
using MoeServe.Model.Export;
using MoeServe.Model.Tests.Support;
using MoeServe.TestSupport;

namespace MoeServe.Model.Tests.Manifest;

/// <summary>Format 3 is written; format 2 (models/default) is still read, but cannot carry format 3's fields.</summary>
public sealed class ManifestFormat3Tests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly string _modelDir;

    public ManifestFormat3Tests()
    {
        var layout = TinyCheckpoint.CreateRandom(_temp.Sub("ckpt"), TinyCheckpoint.DefaultConfig, seed: 1);
        _modelDir = _temp.Sub("model");
        new CheckpointExporter().Export(new ExportOptions { CheckpointDirectory = layout.Directory, OutputDirectory = _modelDir });
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Export_WritesFormat3_WithoutTheImportOnlyConfigFields()
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(_modelDir, ModelManifest.FileName)))!;
        Assert.Equal(3, (int)json["formatVersion"]!);
        var config = json["config"]!.AsObject();
        foreach (string key in new[] { "kvHeads", "headDim", "qkNorm", "qkvBias", "sharedExpertGate", "untiedHead" })
        {
            Assert.False(config.ContainsKey(key), key);
        }

        Assert.Equal("tiktoken", (string?)json["tokenizer"]!["kind"]);
    }

    [Fact]
    public void Format2Manifest_StillLoads()
    {
        Rewrite(json => json["formatVersion"] = 2);
        var manifest = ModelManifest.Load(_modelDir);
        Assert.Equal(2, manifest.FormatVersion);
        Assert.Equal(TokenizerKind.Tiktoken, manifest.Tokenizer.Kind);
        Assert.Equal([manifest.EndOfTextId], manifest.StopTokenIds());
    }

    [Fact]
    public void Format2Manifest_WithFormat3Fields_IsRejected()
    {
        Rewrite(json =>
        {
            json["formatVersion"] = 2;
            json["config"]!["kvHeads"] = 2;
        });
        var ex = Assert.Throws<InvalidDataException>(() => ModelManifest.Load(_modelDir));
        Assert.Contains("formatVersion 2 cannot describe kvHeads", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HuggingFaceTokenizer_WithoutItsFile_IsNamed()
    {
        Rewrite(json => json["tokenizer"] = new JsonObject { ["kind"] = "huggingFace", ["huggingFaceTokenizer"] = "tokenizer.hf.json" });
        var ex = Assert.Throws<InvalidDataException>(() => ModelManifest.Load(_modelDir));
        Assert.Contains("tokenizer.hf.json", ex.Message, StringComparison.Ordinal);
    }

    private void Rewrite(Action<JsonNode> edit)
    {
        string path = Path.Combine(_modelDir, ModelManifest.FileName);
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
    }
}
