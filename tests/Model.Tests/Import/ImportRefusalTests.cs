using System.Text.Json.Nodes;
using MoeServe.Model.Import;
using MoeServe.TestSupport;

namespace MoeServe.Model.Tests.Import;

/// <summary>
/// What the importer refuses: one line naming the key and value, before anything is written
/// (no --out, no temporary sibling left behind).
/// </summary>
public sealed class ImportRefusalTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "moeserve-refuse-" + Guid.NewGuid().ToString("N"));

    public static TheoryData<HfFamily, string, string, string> ConfigRefusals => new()
    {
        { HfFamily.Mixtral, "model_type", "\"deepseek_v3\"", "model_type = \"deepseek_v3\"" },
        { HfFamily.Mixtral, "rope_scaling", """{"type": "yarn", "factor": 4.0}""", "rope_scaling = {\"type\":\"yarn\"" },
        { HfFamily.Qwen2Moe, "use_sliding_window", "true", "use_sliding_window = true" },
        { HfFamily.Qwen3Moe, "use_sliding_window", "true", "use_sliding_window = true" },
        { HfFamily.Mixtral, "kv_lora_rank", "512", "kv_lora_rank = 512" },
        { HfFamily.Qwen2Moe, "mlp_only_layers", "[0]", "mlp_only_layers = [0]" },
        { HfFamily.Qwen2Moe, "decoder_sparse_step", "2", "decoder_sparse_step = 2" },
        { HfFamily.Qwen3Moe, "decoder_sparse_step", "2", "decoder_sparse_step = 2" },
        { HfFamily.Olmoe, "clip_qkv", "8.0", "clip_qkv = 8" },
        { HfFamily.Mixtral, "hidden_act", "\"gelu\"", "hidden_act = \"gelu\"" },
        { HfFamily.Mixtral, "sliding_window", "64", "sliding_window = 64" },
    };

    [Theory]
    [MemberData(nameof(ConfigRefusals))]
    public void UnsupportedConfig_RefusedInOneLineNamingKeyAndValue(HfFamily family, string key, string json, string expected)
    {
        string source = Path.Combine(_root, "hf");
        TinyHfCheckpoint.Write(family, source, seed: 1, configEdit: c => c[key] = JsonNode.Parse(json));
        var error = AssertRefused(source);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultRopeScaling_IsAccepted()
    {
        string source = Path.Combine(_root, "hf");
        TinyHfCheckpoint.Write(HfFamily.Mixtral, source, seed: 1, configEdit: c => c["rope_scaling"] = JsonNode.Parse("""{"rope_type": "default"}"""));
        string output = Path.Combine(_root, "out");
        new HfImporter().Import(new ImportOptions { Source = source, OutputDirectory = output });
        Assert.True(File.Exists(Path.Combine(output, ModelManifest.FileName)));
        Assert.Empty(Directory.EnumerateDirectories(_root, ".*"));
    }

    [Fact]
    public void MissingTensor_RefusedNamingTheTransformersName()
    {
        string source = Path.Combine(_root, "hf");
        var model = TinyHfCheckpoint.Write(HfFamily.Qwen2Moe, source, seed: 1);
        var tensors = model.Tensors.Where(t => t.Key != "model.layers.1.mlp.shared_expert_gate.weight").ToDictionary(t => t.Key, t => t.Value);
        TinyHfCheckpoint.WriteSafeTensors(Path.Combine(source, "model.safetensors"), tensors, "F32");
        var error = AssertRefused(source);
        Assert.Contains("missing tensor 'model.layers.1.mlp.shared_expert_gate.weight'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownDType_RefusedNamingTensorAndDType()
    {
        string source = Path.Combine(_root, "hf");
        TinyHfCheckpoint.Write(HfFamily.Mixtral, source, seed: 1);
        // A safetensors file whose one tensor is float64.
        string path = Path.Combine(source, "model.safetensors");
        var header = new JsonObject { ["x.weight"] = new JsonObject { ["dtype"] = "F64", ["shape"] = new JsonArray(1), ["data_offsets"] = new JsonArray(0, 8) } };
        byte[] json = System.Text.Encoding.UTF8.GetBytes(header.ToJsonString());
        using (var stream = File.Create(path))
        {
            stream.Write(BitConverter.GetBytes((ulong)json.Length));
            stream.Write(json);
            stream.Write(new byte[8]);
        }

        var error = AssertRefused(source);
        Assert.Contains("tensor 'x.weight'", error.Message, StringComparison.Ordinal);
        Assert.Contains("dtype F64", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GgufPath_Malformed_RefusedNamingTheFile()
    {
        string gguf = Path.Combine(_root, "model.gguf");
        Directory.CreateDirectory(_root);
        File.WriteAllBytes(gguf, [0x47, 0x47, 0x55, 0x46]);
        var error = Assert.Throws<UnsupportedCheckpointException>(() => HfCheckpointOpener.Open(gguf));
        Assert.Contains("not a GGUF file", error.Message, StringComparison.Ordinal);
        Assert.Contains(gguf, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GgufPath_OpensAsAGgufCheckpoint()
    {
        string gguf = Path.Combine(SharedFixtures.Directory("moe-import"), "mixtral", "mixtral.gguf");
        using var checkpoint = HfCheckpointOpener.Open(gguf);
        var mapped = Assert.IsType<Model.Gguf.GgufCheckpoint>(checkpoint);
        Assert.Equal("mixtral", mapped.ModelType);
        Assert.Equal(gguf, checkpoint.Source);
    }

    [Fact]
    public void GgufWithoutTheTextTokenizerProvider_RefusedBeforeWriting()
    {
        // The default provider copies Hugging Face files; a GGUF's tokenizer needs src/Text's converter.
        string gguf = Path.Combine(SharedFixtures.Directory("moe-import"), "mixtral", "mixtral.gguf");
        string output = Path.Combine(_root, "out");
        var error = Assert.Throws<UnsupportedCheckpointException>(() => new HfImporter().Import(new ImportOptions { Source = gguf, OutputDirectory = output }));
        Assert.Contains("ImportTokenizerProvider", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_root) && Directory.EnumerateFileSystemEntries(_root).Any());
    }

    [Fact]
    public void ExistingNonModelOutput_IsNotReplaced()
    {
        string source = Path.Combine(_root, "hf");
        TinyHfCheckpoint.Write(HfFamily.Olmoe, source, seed: 1);
        string output = Path.Combine(_root, "out");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "notes.txt"), "mine");
        Assert.Throws<IOException>(() => new HfImporter().Import(new ImportOptions { Source = source, OutputDirectory = output }));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "notes.txt")));
        Assert.Empty(Directory.EnumerateDirectories(_root, ".*"));
    }

    [Fact]
    public void ReImport_ReplacesAPreviousModel()
    {
        string source = Path.Combine(_root, "hf");
        TinyHfCheckpoint.Write(HfFamily.Mixtral, source, seed: 1);
        string output = Path.Combine(_root, "out");
        new HfImporter().Import(new ImportOptions { Source = source, OutputDirectory = output });
        File.WriteAllText(Path.Combine(output, "layer9.expert9.onnx"), "stale");
        var result = new HfImporter().Import(new ImportOptions { Source = source, OutputDirectory = output, Name = "again" });
        Assert.Equal("again", ModelManifest.Load(output).Name);
        Assert.False(File.Exists(Path.Combine(output, "layer9.expert9.onnx")));
        Assert.Equal(result.Files, Directory.EnumerateFiles(output).Count());
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private UnsupportedCheckpointException AssertRefused(string source)
    {
        string output = Path.Combine(_root, "out");
        var error = Assert.Throws<UnsupportedCheckpointException>(() => new HfImporter().Import(new ImportOptions { Source = source, OutputDirectory = output }));
        Assert.DoesNotContain('\n', error.Message);
        Assert.False(Directory.Exists(output), "nothing may be written to --out");
        Assert.Empty(Directory.EnumerateDirectories(_root, ".*"));
        return error;
    }
}
