using LLama.Native;
using MoeServe.Import.Tests.Support;
using MoeServe.Model.Gguf;
using MoeServe.TestSupport;
using Xunit.Abstractions;

namespace MoeServe.Import.Tests.Gguf;

/// <summary>
/// Quantized GGUFs made by llama.cpp's own quantizer (Q8_0, Q4_0, Q4_K_M: Q4_K and Q6_K) from a tiny
/// Mixtral with 256-wide rows: the reader's dequantization reproduces the original weights within
/// each format's rounding, and llama.cpp's logits on the quantized file are much closer to a float64
/// forward over the reader's dequantized weights than to one over the unquantized weights.
/// </summary>
public sealed class GgufQuantizedTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gguf-quant-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<LLamaFtype> Types => new() { LLamaFtype.MOSTLY_Q8_0, LLamaFtype.MOSTLY_Q4_0, LLamaFtype.MOSTLY_Q4_K_M, LLamaFtype.MOSTLY_Q6_K };

    private static double Bound(GgmlType t) => t switch
    {
        GgmlType.F32 => 0,
        GgmlType.F16 => 1e-3,
        GgmlType.Q8_0 => 0.01,
        GgmlType.Q6_K => 0.03,
        GgmlType.Q4_0 or GgmlType.Q4_K => 0.1,
        _ => throw new InvalidOperationException($"unexpected {t}"),
    };

    [Theory]
    [MemberData(nameof(Types))]
    public void LlamaCppQuantized_ReaderDequantizesAsLlamaCppComputes(LLamaFtype ftype)
    {
        using InMemoryHfCheckpoint hf = TinyMoe.Create("mixtral", seed: 3, hidden: 256, expertInter: 256, headDim: 64);
        string f32 = Path.Combine(_dir, "f32.gguf");
        string quant = Path.Combine(_dir, $"{ftype}.gguf");
        HfToGgufConverter.Convert(hf, TinyMoe.Tokenizer(), f32);
        LlamaCppReference.Quantize(f32, quant, ftype);

        using GgufCheckpoint gguf = GgufCheckpoint.Open(quant);
        var seen = new HashSet<GgmlType>();
        foreach (string name in hf.TensorNames)
        {
            float[] expected = hf.Tensors[name].Data;
            var actual = new float[expected.Length];
            gguf.ReadFloat32(name, actual);
            GgmlType type = gguf.SourceTensor(name).Type;
            seen.Add(type);
            double err = Math.Sqrt(expected.Zip(actual, (a, b) => (double)(a - b) * (a - b)).Average());
            double rms = Math.Sqrt(expected.Average(a => (double)a * a));
            Assert.True(err <= Bound(type) * rms, $"{name} ({type}): dequantized RMS error {err / rms:E2} of the weights' RMS");
        }
        output.WriteLine($"{ftype}: tensor types {string.Join(", ", seen.Order())}");
        GgmlType[] wanted = ftype switch
        {
            LLamaFtype.MOSTLY_Q8_0 => [GgmlType.Q8_0],
            LLamaFtype.MOSTLY_Q4_0 => [GgmlType.Q4_0],
            LLamaFtype.MOSTLY_Q6_K => [GgmlType.Q6_K],
            _ => [GgmlType.Q4_K, GgmlType.Q6_K],
        };
        Assert.All(wanted, t => Assert.Contains(t, seen));

        // Exact check: llama.cpp looks a token's embedding up by dequantizing its row (get_rows, no
        // activation quantization). So keep token_embd's quantized bytes, store every other tensor as
        // the F32 the reader gives, and llama.cpp must compute what the float64 forward over the
        // reader's weights computes, to float32 rounding.
        GgmlType embeddingType = gguf.SourceTensor("model.embed_tokens.weight").Type;
        output.WriteLine($"{ftype}: token_embd is {embeddingType}");
        Assert.Equal(wanted[0], embeddingType);
        string probe = Path.Combine(_dir, $"{ftype}-embedding-probe.gguf");
        var w = new GgufWriter();
        foreach (string key in gguf.File.MetadataKeys)
        {
            w.Add(key, gguf.File.Metadata[key]);
        }
        foreach (GgufTensorInfo t in gguf.File.Tensors)
        {
            if (t.Name == "token_embd.weight")
            {
                w.AddTensor(t.Name, t.Dimensions, t.Type, gguf.File.GetBytes(t, 0, t.ElementCount).ToArray());
            }
            else
            {
                var data = new float[t.ElementCount];
                gguf.File.ReadFloat32(t, data);
                w.AddTensor(t.Name, t.Dimensions, GgmlType.F32, GgufWriter.Encode(GgmlType.F32, data));
            }
        }
        w.WriteTo(probe);
        int[] probeIds = TinyMoe.RandomTokens(seed: 9, count: 8);
        using (GgufCheckpoint probeCheckpoint = GgufCheckpoint.Open(probe))
        {
            float[][] expected = ToFloat(ReferenceForward.Logits(probeCheckpoint, probeIds));
            float[][] actual = LlamaCppReference.Evaluate(probe, probeIds).Logits;
            double exact = Numerics.Relative(expected, actual);
            output.WriteLine($"{ftype}: {embeddingType} embeddings, llama.cpp vs float64 over the reader's weights: {exact:E2}");
            Assert.True(exact < 1e-5, $"{embeddingType}: llama.cpp's embedding rows differ from the reader's ({exact:E2} relative)");
            Assert.Equal(expected.Select(Numerics.ArgMax), actual.Select(Numerics.ArgMax));
        }

        int[] ids = TinyMoe.RandomTokens(seed: 5, count: 12);
        if (ftype != LLamaFtype.MOSTLY_Q8_0 && ftype != LLamaFtype.MOSTLY_Q6_K)
        {
            // Whole model, every tensor quantized: llama.cpp's CPU kernels also quantize the activations
            // (Q8) for quantized weights, so this is no exact match; but 4-bit weights move the logits far
            // more than that, so llama.cpp must be much closer to the reader's weights than to the originals.
            // Medians over positions: a near-tie in the top-k routing can flip one position's experts.
            float[][] llama = LlamaCppReference.Evaluate(quant, ids).Logits;
            double[] dq = Numerics.RelativePerPosition(ToFloat(ReferenceForward.Logits(gguf, ids)), llama);
            double[] orig = Numerics.RelativePerPosition(ToFloat(ReferenceForward.Logits(hf, ids)), llama);
            double vsDequantized = Numerics.Median(dq);
            double vsOriginal = Numerics.Median(orig);
            output.WriteLine($"{ftype}: whole model, llama.cpp vs float64 (median over positions): over the reader's weights {vsDequantized:E2}, over the unquantized weights {vsOriginal:E2}");
            Assert.True(vsDequantized < vsOriginal / 3, $"{ftype}: the dequantized weights ({vsDequantized:E2}) explain llama.cpp no better than the unquantized ones ({vsOriginal:E2})");
        }
    }

    [Theory]
    [InlineData(GgmlType.Q8_0, LLamaFtype.MOSTLY_Q8_0)]
    [InlineData(GgmlType.Q4_0, LLamaFtype.MOSTLY_Q4_0)]
    public void Writer_Quantizes_ByteForByteAsLlamaCpp(GgmlType type, LLamaFtype ftype)
    {
        using InMemoryHfCheckpoint hf = TinyMoe.Create("mixtral", seed: 4);
        string f32 = Path.Combine(_dir, "f32.gguf");
        string ours = Path.Combine(_dir, "ours.gguf");
        string theirs = Path.Combine(_dir, "theirs.gguf");
        HfToGgufConverter.Convert(hf, TinyMoe.Tokenizer(), f32);
        HfToGgufConverter.Convert(hf, TinyMoe.Tokenizer(), ours, type);
        LlamaCppReference.Quantize(f32, theirs, ftype);
        using GgufFile a = GgufFile.Open(ours);
        using GgufFile b = GgufFile.Open(theirs);
        int compared = 0;
        foreach (GgufTensorInfo t in a.Tensors.Where(t => t.Type == type))
        {
            GgufTensorInfo u = b.GetTensor(t.Name);
            if (u.Type != type)
            {
                continue; // llama.cpp chose another type for this tensor
            }
            Assert.True(a.GetBytes(t, 0, t.ElementCount).SequenceEqual(b.GetBytes(u, 0, u.ElementCount)), $"{t.Name}: {type} bytes differ from llama.cpp's");
            compared++;
        }
        output.WriteLine($"{type}: {compared} tensors byte-identical to llama.cpp's quantizer");
        Assert.True(compared >= 10, $"only {compared} tensors were {type} in both files");
        Assert.Equal(TinyMoe.RandomTokens(1, 8), LlamaCppReference.Evaluate(ours, TinyMoe.RandomTokens(1, 8)).TokenIds);
    }

    private static float[][] ToFloat(double[][] a) => a.Select(r => r.Select(v => (float)v).ToArray()).ToArray();
}
