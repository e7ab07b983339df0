using MoeServe.Import.Tests.Support;
using MoeServe.Model.Gguf;
using MoeServe.TestSupport;
using Xunit.Abstractions;

namespace MoeServe.Import.Tests.Gguf;

/// <summary>
/// For each family: a tiny random HF checkpoint, converted by the test converter, loads in llama.cpp,
/// and llama.cpp's logits agree with an independent float64 forward over the HF tensors, and with the
/// same forward over what GgufCheckpoint reads back. A converter bug llama.cpp rejects or computes
/// differently fails here.
/// </summary>
public sealed class LlamaCppFamilyTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gguf-family-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> Families => new(TinyMoe.Families);

    [Theory]
    [MemberData(nameof(Families))]
    public void Convert_TinyRandomFamily_LlamaCppMatchesFloat64Reference(string family)
    {
        using InMemoryHfCheckpoint hf = TinyMoe.Create(family, seed: 7);
        string path = Path.Combine(_dir, family + ".gguf");
        HfToGgufConverter.Convert(hf, TinyMoe.Tokenizer(), path, name: "tiny-" + family);
        int[] ids = TinyMoe.RandomTokens(seed: 11, count: 24);

        LlamaCppReference.Result r = LlamaCppReference.Evaluate(path, ids);
        Assert.Equal(ids, r.TokenIds);
        Assert.All(r.Logits, row => Assert.All(row, v => Assert.True(float.IsFinite(v))));
        Assert.All(r.Logits, row => Assert.Equal(TinyMoe.VocabSize, row.Length));

        float[][] reference = ToFloat(ReferenceForward.Logits(hf, ids));
        double rel = Numerics.Relative(reference, r.Logits);
        int argmaxAgree = reference.Zip(r.Logits).Count(p => Numerics.ArgMax(p.First) == Numerics.ArgMax(p.Second));
        output.WriteLine($"{family}: llama.cpp vs float64 reference: {rel:E2} relative, argmax {argmaxAgree}/{ids.Length}, max |logit| {reference.Max(Numerics.MaxAbs):F2}");
        Assert.True(rel < 1e-3, $"{family}: llama.cpp and the float64 reference differ by {rel:E2} relative");
        Assert.Equal(ids.Length, argmaxAgree);

        // And the reader: the GGUF seen through GgufCheckpoint is the same model.
        using GgufCheckpoint gguf = GgufCheckpoint.Open(path);
        Assert.Equal(hf.TensorNames.Order(StringComparer.Ordinal), gguf.TensorNames.Order(StringComparer.Ordinal));
        foreach (string name in hf.TensorNames)
        {
            var a = new float[hf.Tensors[name].Data.Length];
            gguf.ReadFloat32(name, a);
            Assert.Equal(hf.Tensors[name].Data, a);
        }
        foreach ((string key, System.Text.Json.Nodes.JsonNode? value) in hf.Config)
        {
            Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(value, gguf.Config[key]),
                $"{family} config {key}: hf {value?.ToJsonString() ?? "null"}, gguf {gguf.Config[key]?.ToJsonString() ?? "null"}");
        }
    }

    [Fact]
    public void Convert_Tokenizer_LlamaCppTokenizesWithTheMerges()
    {
        // The gpt2 tokenizer keys as written are what llama.cpp reads: " the" is bytes "Ġ t h e", merged
        // by rank ("Ġ t" first, then "h e") into "Ġt" (256) and "he" (258); add_bos_token false adds no BOS.
        using InMemoryHfCheckpoint hf = TinyMoe.Create("olmoe", seed: 2);
        string path = Path.Combine(_dir, "tok.gguf");
        HfToGgufConverter.Convert(hf, TinyMoe.Tokenizer(), path);
        Assert.Equal([256, 258], LlamaCppReference.Evaluate(path, " the").TokenIds);
        // Byte tokens are ids 0..255 in byte order; " a" merges to "Ġa" (259).
        Assert.Equal([(int)'x', 259, 256, 258], LlamaCppReference.Evaluate(path, "x a the").TokenIds);
    }

    [Fact]
    public void Convert_MixtralWithoutQkPermutation_LlamaCppDisagrees()
    {
        // Negative control: the test above would catch a converter (or reader) that skips llama's q/k permutation.
        using InMemoryHfCheckpoint hf = TinyMoe.Create("mixtral", seed: 7);
        string path = Path.Combine(_dir, "unpermuted.gguf");
        HfToGgufConverter.Convert(hf, TinyMoe.Tokenizer(), path, permuteLlamaQk: false);
        int[] ids = TinyMoe.RandomTokens(seed: 11, count: 24);
        double rel = Numerics.Relative(ToFloat(ReferenceForward.Logits(hf, ids)), LlamaCppReference.Evaluate(path, ids).Logits);
        output.WriteLine($"unpermuted mixtral: llama.cpp vs float64 reference {rel:E2}");
        Assert.True(rel > 1e-2, $"without the permutation llama.cpp still agrees ({rel:E2}): the test cannot see RoPE layout mistakes");
    }

    [Theory]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    public void Convert_HalfPrecisionEmbeddings_LlamaCppUsesTheReadersValues(GgmlType type)
    {
        // token_embd rows are dequantized exactly by llama.cpp (get_rows), so with only the embeddings in
        // half precision llama.cpp must compute what the float64 forward over the reader's weights does.
        using InMemoryHfCheckpoint hf = TinyMoe.Create("qwen2_moe", seed: 8);
        string full = Path.Combine(_dir, $"{type}.gguf");
        HfToGgufConverter.Convert(hf, TinyMoe.Tokenizer(), full, type);
        string probe = Path.Combine(_dir, $"{type}-probe.gguf");
        using (GgufFile f = GgufFile.Open(full))
        {
            Assert.Equal(type, f.GetTensor("token_embd.weight").Type);
            Assert.Equal(type, f.GetTensor("blk.0.ffn_gate_exps.weight").Type);
            var w = new GgufWriter();
            foreach (string key in f.MetadataKeys)
            {
                w.Add(key, f.Metadata[key]);
            }
            foreach (GgufTensorInfo t in f.Tensors)
            {
                var data = new float[t.ElementCount];
                f.ReadFloat32(t, data);
                GgmlType keep = t.Name == "token_embd.weight" ? type : GgmlType.F32;
                w.AddTensor(t.Name, t.Dimensions, keep, GgufWriter.Encode(keep, data));
            }
            w.WriteTo(probe);
        }
        using GgufCheckpoint gguf = GgufCheckpoint.Open(probe);
        int[] ids = TinyMoe.RandomTokens(seed: 12, count: 12);
        double rel = Numerics.Relative(ToFloat(ReferenceForward.Logits(gguf, ids)), LlamaCppReference.Evaluate(probe, ids).Logits);
        output.WriteLine($"{type} embeddings: llama.cpp vs float64 over the reader's weights {rel:E2}");
        Assert.True(rel < 1e-5, $"{type}: {rel:E2}");
    }

    private static float[][] ToFloat(double[][] a) => a.Select(r => r.Select(v => (float)v).ToArray()).ToArray();
}
