using System.Text;
using MoeServe.Import.Tests.Support;
using MoeServe.Model.Gguf;

namespace MoeServe.Import.Tests.Gguf;

/// <summary>What the reader and GgufCheckpoint refuse, and the messages they refuse with.</summary>
public sealed class GgufRefusalTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gguf-refusal-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The fixture GGUF rewritten, with metadata keys dropped or added.</summary>
    private string Rewrite(string name, Func<string, bool>? keep = null, Action<GgufWriter>? add = null)
    {
        using GgufFile src = GgufFile.Open(Fixtures.MixtralGguf);
        var w = new GgufWriter();
        foreach (string key in src.MetadataKeys.Where(k => keep?.Invoke(k) ?? true))
        {
            w.Add(key, src.Metadata[key]);
        }
        add?.Invoke(w);
        foreach (GgufTensorInfo t in src.Tensors)
        {
            w.AddTensor(t.Name, t.Dimensions, t.Type, src.GetBytes(t, 0, t.ElementCount).ToArray());
        }
        string path = Path.Combine(_dir, name);
        w.WriteTo(path);
        return path;
    }

    [Fact]
    public void Open_NotGguf_NamesTheMagic()
    {
        string path = Path.Combine(_dir, "x.gguf");
        File.WriteAllBytes(path, Encoding.ASCII.GetBytes("PK\u0003\u0004 this is a zip file, not a gguf"));
        var e = Assert.Throws<InvalidDataException>(() => GgufFile.Open(path));
        Assert.Contains("not a GGUF file", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_Truncated_IsMalformed()
    {
        byte[] bytes = File.ReadAllBytes(Fixtures.MixtralGguf);
        string headerCut = Path.Combine(_dir, "header.gguf");
        File.WriteAllBytes(headerCut, bytes[..5000]);
        Assert.Contains("unexpected end of file", Assert.Throws<InvalidDataException>(() => GgufFile.Open(headerCut)).Message, StringComparison.Ordinal);
        string dataCut = Path.Combine(_dir, "data.gguf");
        File.WriteAllBytes(dataCut, bytes[..(bytes.Length - 100)]);
        Assert.Contains("runs past the end of the file", Assert.Throws<InvalidDataException>(() => GgufFile.Open(dataCut)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_Version1_IsRefused()
    {
        byte[] bytes = File.ReadAllBytes(Fixtures.MixtralGguf);
        bytes[4] = 1;
        string path = Path.Combine(_dir, "v1.gguf");
        File.WriteAllBytes(path, bytes);
        Assert.Contains("version 1", Assert.Throws<NotSupportedException>(() => GgufFile.Open(path)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Checkpoint_UnsupportedTensorType_NamesTheType()
    {
        // Re-label token_embd (F32) as Q5_K in the tensor info: the file still opens (listing works),
        // but reading it, or mapping the checkpoint, names the type.
        byte[] bytes = File.ReadAllBytes(Fixtures.MixtralGguf);
        byte[] name = Encoding.UTF8.GetBytes("token_embd.weight");
        int at = bytes.AsSpan().IndexOf(name) + name.Length;
        int typeOffset = at + 4 + 2 * 8; // n_dims, ne[0], ne[1]
        Assert.Equal(0, BitConverter.ToInt32(bytes, typeOffset));
        BitConverter.GetBytes((int)GgmlType.Q5_K).CopyTo(bytes, typeOffset);
        string path = Path.Combine(_dir, "q5k.gguf");
        File.WriteAllBytes(path, bytes);
        using (GgufFile f = GgufFile.Open(path))
        {
            Assert.Equal(GgmlType.Q5_K, f.GetTensor("token_embd.weight").Type);
            var e = Assert.Throws<NotSupportedException>(() => f.ReadFloat32(f.GetTensor("token_embd.weight"), new float[64 * 4098]));
            Assert.Contains("Q5_K", e.Message, StringComparison.Ordinal);
        }
        var refused = Assert.Throws<NotSupportedException>(() => GgufCheckpoint.Open(path));
        Assert.Contains("token_embd.weight", refused.Message, StringComparison.Ordinal);
        Assert.Contains("Q5_K", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Checkpoint_UnsupportedArchitecture_NamesIt()
    {
        string path = Rewrite("gemma.gguf", k => k != "general.architecture", w => w.AddString("general.architecture", "gemma2"));
        var e = Assert.Throws<InvalidDataException>(() => GgufCheckpoint.Open(path));
        Assert.Contains("'gemma2' is not supported", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Checkpoint_DenseLlama_IsRefused()
    {
        string path = Rewrite("dense.gguf", k => !k.StartsWith("llama.expert", StringComparison.Ordinal));
        var e = Assert.Throws<InvalidDataException>(() => GgufCheckpoint.Open(path));
        Assert.Contains("dense llama", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Config_RopeScalingKeys_BecomeRopeScaling()
    {
        string path = Rewrite("yarn.gguf", add: w =>
        {
            w.AddString("llama.rope.scaling.type", "yarn");
            w.AddFloat32("llama.rope.scaling.factor", 4f);
            w.AddUInt32("llama.rope.scaling.original_context_length", 4096);
        });
        using GgufCheckpoint gguf = GgufCheckpoint.Open(path);
        var scaling = gguf.Config["rope_scaling"]!.AsObject();
        Assert.Equal("yarn", (string)scaling["rope_type"]!);
        Assert.Equal(4.0, (double)scaling["factor"]!);
        Assert.Equal(4096L, (long)scaling["original_max_position_embeddings"]!);
    }

    [Fact]
    public void Config_NoScalingAndNoOutputTensor_NullScalingAndTied()
    {
        using GgufCheckpoint fixture = GgufCheckpoint.Open(Fixtures.MixtralGguf);
        Assert.Null(fixture.Config["rope_scaling"]);
        Assert.False((bool)fixture.Config["tie_word_embeddings"]!);
        Assert.Contains("lm_head.weight", fixture.TensorNames);
    }

    [Fact]
    public void Checkpoint_UnknownTensor_IsRefusedByName()
    {
        using GgufFile src = GgufFile.Open(Fixtures.MixtralGguf);
        var w = new GgufWriter();
        foreach (string key in src.MetadataKeys)
        {
            w.Add(key, src.Metadata[key]);
        }
        foreach (GgufTensorInfo t in src.Tensors)
        {
            w.AddTensor(t.Name, t.Dimensions, t.Type, src.GetBytes(t, 0, t.ElementCount).ToArray());
        }
        w.AddTensor("rope_freqs.weight", [8L], new float[8]);
        string path = Path.Combine(_dir, "extra.gguf");
        w.WriteTo(path);
        var e = Assert.Throws<InvalidDataException>(() => GgufCheckpoint.Open(path));
        Assert.Contains("rope_freqs.weight", e.Message, StringComparison.Ordinal);
    }
}

public sealed class GgufConfigShapeTests
{
    [Fact]
    public void Config_Numbers_ConvertLikeParsedConfigJson()
    {
        using GgufCheckpoint gguf = GgufCheckpoint.Open(Fixtures.MixtralGguf);
        Assert.Equal(64, gguf.Config["hidden_size"]!.GetValue<int>());
        Assert.Equal(64L, gguf.Config["hidden_size"]!.GetValue<long>());
        Assert.Equal(1e-6, gguf.Config["rms_norm_eps"]!.GetValue<double>());
        Assert.Equal(10000.0, gguf.Config["rope_theta"]!.GetValue<double>());
        Assert.Equal(4095, (int)gguf.Config["eos_token_id"]!);
    }
}
