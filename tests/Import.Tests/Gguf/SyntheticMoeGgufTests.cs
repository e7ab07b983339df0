using MoeServe.Model.Gguf;

namespace MoeServe.Import.Tests.Gguf;

/// <summary>
/// <see cref="SyntheticMoeGguf"/> (what <c>synth</c> writes): the same seed gives the same bytes, another seed other
/// weights; the weights have the intended scale (RMS about 1/sqrt(fan_in), no bias from Q4_0's codes); the file
/// carries OLMoE's keys and a vocabulary of exactly the model's size.
/// </summary>
public sealed class SyntheticMoeGgufTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gguf-synth-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q8_0)]
    public void Tiny_IsDeterministic_AndScaledByFanIn(GgmlType type)
    {
        var shape = SyntheticMoeShape.Tiny;
        string a = Path.Combine(_dir, "a.gguf");
        string b = Path.Combine(_dir, "b.gguf");
        string c = Path.Combine(_dir, "c.gguf");
        SyntheticMoeGguf.Write(shape, type, a, seed: 5);
        SyntheticMoeGguf.Write(shape, type, b, seed: 5);
        SyntheticMoeGguf.Write(shape, type, c, seed: 6);
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        Assert.NotEqual(File.ReadAllBytes(a), File.ReadAllBytes(c));

        using var file = GgufFile.Open(a);
        Assert.Equal("olmoe", file.Architecture);
        Assert.Equal(shape.Experts, file.GetInteger("olmoe.expert_count"));
        Assert.Equal(shape.TopK, file.GetInteger("olmoe.expert_used_count"));
        Assert.Null(file.GetInteger("olmoe.expert_weights_norm"));
        Assert.Equal(shape.VocabSize, GgufTokenizerMetadata.FromFile(file)!.Tokens.Count);

        foreach ((string name, int fanIn) in new[] { ("blk.0.ffn_gate_exps.weight", shape.Hidden), ("blk.1.ffn_down_exps.weight", shape.ExpertHidden), ("blk.0.attn_q.weight", shape.Hidden) })
        {
            var tensor = file.GetTensor(name);
            Assert.Equal(type, tensor.Type);
            var values = new float[tensor.ElementCount];
            file.ReadFloat32(tensor, values);
            double rms = Math.Sqrt(values.Average(v => (double)v * v));
            double mean = values.Average(v => (double)v);
            double expected = 1 / Math.Sqrt(fanIn);
            Assert.InRange(rms / expected, 0.9, 1.1);
            Assert.InRange(Math.Abs(mean) / expected, 0, 0.05);
        }
    }
}
