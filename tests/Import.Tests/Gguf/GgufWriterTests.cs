using MoeServe.Import.Tests.Support;
using MoeServe.Model.Gguf;
using MoeServe.TestSupport;

namespace MoeServe.Import.Tests.Gguf;

public sealed class GgufWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gguf-writer-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Converter_FixtureHf_WritesTheFixtureGgufTensorsAndMetadata()
    {
        // The converter must do what llama.cpp's convert_hf_to_gguf.py did to build the fixture GGUF:
        // same tensor names, dimensions, types and bytes (so the same q/k permutation and expert stacking),
        // and the same metadata values.
        using InMemoryHfCheckpoint hf = Fixtures.LoadMixtralHf();
        GgufTokenizerMetadata tok = HfToGgufConverter.TokenizerFromHfDirectory(Fixtures.MixtralHf, 4098);
        string path = Path.Combine(_dir, "converted.gguf");
        HfToGgufConverter.Convert(hf, tok, path, name: "moe-fixture-mixtral");

        using GgufFile expected = GgufFile.Open(Fixtures.MixtralGguf);
        using GgufFile actual = GgufFile.Open(path);
        Assert.Equal(expected.Tensors.Select(t => t.Name), actual.Tensors.Select(t => t.Name));
        foreach (GgufTensorInfo e in expected.Tensors)
        {
            GgufTensorInfo a = actual.GetTensor(e.Name);
            Assert.Equal(e.Dimensions, a.Dimensions);
            Assert.Equal(e.Type, a.Type);
            Assert.True(expected.GetBytes(e, 0, e.ElementCount).SequenceEqual(actual.GetBytes(a, 0, a.ElementCount)), $"{e.Name}: bytes differ");
        }
        Assert.Equal(expected.MetadataKeys.Order(StringComparer.Ordinal), actual.MetadataKeys.Order(StringComparer.Ordinal));
        foreach (string key in expected.MetadataKeys)
        {
            GgufValue e = expected.Metadata[key];
            GgufValue a = actual.Metadata[key];
            Assert.Equal(e.Type, a.Type);
            Assert.Equal(e.ElementType, a.ElementType);
            if (e.Value is Array ea)
            {
                Assert.True(ea.Cast<object>().SequenceEqual(((Array)a.Value).Cast<object>()), $"{key} differs");
            }
            else
            {
                Assert.Equal(e.Value, a.Value);
            }
        }
    }

    [Fact]
    public void RoundTrip_FixtureHf_ConverterThenReader_GivesTheHfTensorsExactly()
    {
        using InMemoryHfCheckpoint hf = Fixtures.LoadMixtralHf();
        string path = Path.Combine(_dir, "roundtrip.gguf");
        HfToGgufConverter.Convert(hf, HfToGgufConverter.TokenizerFromHfDirectory(Fixtures.MixtralHf, 4098), path);
        using GgufCheckpoint gguf = GgufCheckpoint.Open(path);
        Assert.Equal(hf.TensorNames.Order(StringComparer.Ordinal), gguf.TensorNames.Order(StringComparer.Ordinal));
        foreach (string name in hf.TensorNames)
        {
            var actual = new float[hf.Tensors[name].Data.Length];
            gguf.ReadFloat32(name, actual);
            Assert.Equal(hf.Tensors[name].Data, actual);
        }
    }

    [Fact]
    public void Writer_EveryMetadataType_ReadsBack()
    {
        var w = new GgufWriter(alignment: 64);
        w.Add("u8", new GgufValue(GgufValueType.UInt8, (byte)200));
        w.Add("i8", new GgufValue(GgufValueType.Int8, (sbyte)-100));
        w.Add("u16", new GgufValue(GgufValueType.UInt16, (ushort)60000));
        w.Add("i16", new GgufValue(GgufValueType.Int16, (short)-30000));
        w.AddUInt32("u32", 4_000_000_000);
        w.AddInt32("i32", -2_000_000_000);
        w.AddFloat32("f32", 1e-6f);
        w.AddBool("bool", true);
        w.AddString("str", "héllo ✓");
        w.AddUInt64("u64", ulong.MaxValue);
        w.Add("i64", new GgufValue(GgufValueType.Int64, long.MinValue));
        w.AddFloat64("f64", Math.PI);
        w.AddArray("strs", ["a", "", "ü"]);
        w.AddArray("ints", [1, -2, 3]);
        w.AddArray("floats", [0.5f, -1.5f]);
        w.Add("bools", new GgufValue(GgufValueType.Array, new[] { true, false }, GgufValueType.Bool));
        w.Add("nested", new GgufValue(GgufValueType.Array, new[]
        {
            new GgufValue(GgufValueType.Array, new[] { 1u, 2u }, GgufValueType.UInt32),
            new GgufValue(GgufValueType.Array, new[] { "x" }, GgufValueType.String),
        }, GgufValueType.Array));
        w.AddTensor("t", [3L, 2L], new float[] { 1, 2, 3, 4, 5, 6 });
        w.AddTensor("u", [5L], new float[] { 7, 8, 9, 10, 11 });
        string path = Path.Combine(_dir, "types.gguf");
        w.WriteTo(path);

        using GgufFile f = GgufFile.Open(path);
        Assert.Equal(64, f.Alignment);
        Assert.Equal((byte)200, f.Metadata["u8"].Value);
        Assert.Equal((sbyte)-100, f.Metadata["i8"].Value);
        Assert.Equal((ushort)60000, f.Metadata["u16"].Value);
        Assert.Equal((short)-30000, f.Metadata["i16"].Value);
        Assert.Equal(4_000_000_000L, f.GetInteger("u32"));
        Assert.Equal(-2_000_000_000L, f.GetInteger("i32"));
        Assert.Equal(1e-6, f.GetNumber("f32"));
        Assert.True(f.GetBool("bool"));
        Assert.Equal("héllo ✓", f.GetString("str"));
        Assert.Equal(ulong.MaxValue, f.Metadata["u64"].Value);
        Assert.Equal(long.MinValue, f.GetInteger("i64"));
        Assert.Equal(Math.PI, f.GetNumber("f64"));
        Assert.Equal(["a", "", "ü"], f.Metadata["strs"].AsArray<string>());
        Assert.Equal([1, -2, 3], f.Metadata["ints"].AsArray<int>());
        Assert.Equal([0.5f, -1.5f], f.Metadata["floats"].AsArray<float>());
        Assert.Equal([true, false], f.Metadata["bools"].AsArray<bool>());
        GgufValue[] nested = f.Metadata["nested"].AsArray<GgufValue>();
        Assert.Equal([1u, 2u], nested[0].AsArray<uint>());
        Assert.Equal(["x"], nested[1].AsArray<string>());
        Assert.Equal(0, f.DataOffset % 64);
        Assert.All(f.Tensors, t => Assert.Equal(0, t.Offset % 64));
        var t = new float[6];
        f.ReadFloat32(f.GetTensor("t"), t);
        Assert.Equal([1f, 2, 3, 4, 5, 6], t);
        Assert.Equal([2L, 3L], f.GetTensor("t").Dimensions);
        var u = new float[5];
        f.ReadFloat32(f.GetTensor("u"), u);
        Assert.Equal([7f, 8, 9, 10, 11], u);
    }
}
