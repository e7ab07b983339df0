using System.Text.Json.Nodes;
using MoeServe.Model.Import;
using MoeServe.TestSupport;

namespace MoeServe.Model.Tests.Import;

/// <summary>The Hugging Face directory reader: single file and shards, F32/F16/BF16 widened exactly, config files.</summary>
public sealed class HfDirectoryCheckpointTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "moeserve-hfdir-" + Guid.NewGuid().ToString("N"));

    [Theory]
    [InlineData("F32")]
    [InlineData("F16")]
    [InlineData("BF16")]
    public void SingleFile_ReadsEveryTensorAsStoredRounding(string dtype)
    {
        var model = TinyHfCheckpoint.Write(HfFamily.Qwen2Moe, Path.Combine(_root, dtype), seed: 3, dtype);
        using var checkpoint = HfDirectoryCheckpoint.Open(model.Directory);
        Assert.Equal(model.Tensors.Keys.Order(StringComparer.Ordinal), checkpoint.TensorNames.Order(StringComparer.Ordinal));
        Assert.Equal("qwen2_moe", (string?)checkpoint.Config["model_type"]);
        Assert.NotNull(checkpoint.GenerationConfig);
        foreach (var (name, (shape, data)) in model.Tensors)
        {
            Assert.Equal(shape, checkpoint.Shape(name));
            float[] read = new float[data.Length];
            checkpoint.ReadFloat32(name, read);
            Assert.Equal(data.Select(x => TinyHfCheckpoint.Stored(x, dtype)), read);
        }
    }

    [Fact]
    public void Shards_ListedByTheIndex_ReadLikeOneFile()
    {
        var model = TinyHfCheckpoint.Write(HfFamily.Mixtral, Path.Combine(_root, "sharded"), seed: 5);
        File.Delete(Path.Combine(model.Directory, HfDirectoryCheckpoint.WeightsFileName));
        var names = model.Tensors.Keys.Order(StringComparer.Ordinal).ToList();
        var map = new JsonObject();
        for (int s = 0; s < 3; s++)
        {
            string file = $"model-{s + 1:D5}-of-00003.safetensors";
            var part = names.Where((_, i) => i % 3 == s).ToDictionary(n => n, n => model.Tensors[n]);
            TinyHfCheckpoint.WriteSafeTensors(Path.Combine(model.Directory, file), part, s == 1 ? "BF16" : "F32");
            foreach (string name in part.Keys)
            {
                map[name] = file;
            }
        }

        File.WriteAllText(Path.Combine(model.Directory, HfDirectoryCheckpoint.IndexFileName), new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());
        using var checkpoint = HfDirectoryCheckpoint.Open(model.Directory);
        Assert.Equal(names.Count, checkpoint.TensorNames.Count);
        for (int i = 0; i < names.Count; i++)
        {
            var (_, data) = model.Tensors[names[i]];
            float[] read = new float[data.Length];
            checkpoint.ReadFloat32(names[i], read);
            Assert.Equal(data.Select(x => TinyHfCheckpoint.Stored(x, i % 3 == 1 ? "BF16" : "F32")), read);
        }
    }

    [Fact]
    public void MissingWeights_NamedInTheError()
    {
        var model = TinyHfCheckpoint.Write(HfFamily.Olmoe, Path.Combine(_root, "noweights"), seed: 1);
        File.Delete(Path.Combine(model.Directory, HfDirectoryCheckpoint.WeightsFileName));
        var error = Assert.Throws<InvalidDataException>(() => HfDirectoryCheckpoint.Open(model.Directory));
        Assert.Contains("model.safetensors", error.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }
}
