using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace MoeServe.Model.Tests.SafeTensors;

public sealed class SafeTensorsFileTests
{
    private static Dictionary<string, FloatTensor> Sample()
    {
        var random = new Random(7);
        float[] Fill(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        return new Dictionary<string, FloatTensor>
        {
            ["b.weight"] = new([3, 5], Fill(15)),
            ["a.bias"] = new([7], Fill(7)),
            ["scalar"] = new([], Fill(1)),
        };
    }

    [Fact]
    public void Read_Float32RoundTrip_ExactValuesAndShapes()
    {
        var tensors = Sample();
        using var stream = new MemoryStream();
        SafeTensorsFile.Write(stream, tensors, TensorDType.Float32, new Dictionary<string, string> { ["format"] = "pt" });
        stream.Position = 0;
        var content = SafeTensorsFile.Read(stream);
        Assert.Equal(tensors.Keys.Order(), content.Tensors.Keys.Order());
        foreach (var (name, tensor) in tensors)
        {
            Assert.Equal(tensor.Shape, content.Get(name).Shape);
            Assert.Equal(tensor.Data, content.Get(name).Data);
            Assert.Equal(TensorDType.Float32, content.StoredTypes[name]);
        }

        Assert.Equal("pt", content.Metadata["format"]);
    }

    [Fact]
    public void Read_Float16RoundTrip_WithinHalfPrecision()
    {
        var tensors = Sample();
        using var stream = new MemoryStream();
        SafeTensorsFile.Write(stream, tensors, TensorDType.Float16);
        stream.Position = 0;
        var content = SafeTensorsFile.Read(stream);
        foreach (var (name, tensor) in tensors)
        {
            Assert.Equal(TensorDType.Float16, content.StoredTypes[name]);
            var back = content.Get(name).Data;
            for (int i = 0; i < back.Length; i++)
            {
                Assert.Equal(tensor.Data[i], back[i], 2e-3f);
                Assert.Equal((float)(Half)tensor.Data[i], back[i]);
            }
        }
    }

    [Fact]
    public void Write_Header_FollowsSafetensorsLayout()
    {
        using var stream = new MemoryStream();
        SafeTensorsFile.Write(stream, Sample(), TensorDType.Float32);
        byte[] bytes = stream.ToArray();
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0UL, headerLength % 8);
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, (int)headerLength));
        var b = header.RootElement.GetProperty("b.weight");
        Assert.Equal("F32", b.GetProperty("dtype").GetString());
        Assert.Equal(new[] { 3, 5 }, b.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        var offsets = b.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        Assert.Equal(60, offsets[1] - offsets[0]);
        Assert.Equal((long)bytes.Length, 8 + (long)headerLength + (15 + 7 + 1) * 4);
    }

    [Fact]
    public void Read_TruncatedData_ThrowsInvalidData()
    {
        using var stream = new MemoryStream();
        SafeTensorsFile.Write(stream, Sample());
        byte[] bytes = stream.ToArray()[..^4];
        var ex = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Read(new MemoryStream(bytes), "x.safetensors"));
        Assert.Contains("x.safetensors", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_UnsupportedDtypeAndBadSize_ListsBoth()
    {
        const string json = """{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,8]}}""";
        byte[] header = Encoding.UTF8.GetBytes(json);
        var bytes = new byte[8 + header.Length + 8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        var ex = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Read(new MemoryStream(bytes)));
        Assert.Contains("BF16", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'b'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Get_WrongShape_ThrowsNamingTensor()
    {
        using var stream = new MemoryStream();
        SafeTensorsFile.Write(stream, Sample());
        stream.Position = 0;
        var content = SafeTensorsFile.Read(stream, "m.safetensors");
        var ex = Assert.Throws<InvalidDataException>(() => content.Get("b.weight", 5, 3));
        Assert.Contains("b.weight", ex.Message, StringComparison.Ordinal);
        Assert.Throws<KeyNotFoundException>(() => content.Get("missing"));
    }

    [Fact]
    public void FromTensors_MissingTensor_ErrorNamesSource()
    {
        var content = SafeTensorsContent.FromTensors(Sample(), "trainer");
        Assert.Equal(TensorDType.Float32, content.StoredTypes["a.bias"]);
        var ex = Assert.Throws<KeyNotFoundException>(() => content.Get("nope"));
        Assert.Contains("trainer", ex.Message, StringComparison.Ordinal);
    }
}
