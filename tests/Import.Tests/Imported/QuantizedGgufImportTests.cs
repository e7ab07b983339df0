using LLama.Native;
using MoeServe.Import.Tests.Support;
using MoeServe.Model;
using MoeServe.Model.Gguf;
using MoeServe.Model.Import;
using MoeServe.Runtime;
using MoeServe.TestSupport;
using MoeServe.Text.Import;
using Xunit.Abstractions;

namespace MoeServe.Import.Tests.Imported;

/// <summary>
/// A GGUF quantized by llama.cpp's own quantizer (Q8_0; Q4_K_M, i.e. Q4_K and Q6_K, what most published GGUFs
/// are) imports end to end: the import dequantizes once, so at float32 it computes the float64 forward over
/// the reader's dequantized weights (to 1e-3 relative, every argmax). llama.cpp on the same file also quantizes
/// the activations, so it is reported, not matched exactly.
/// </summary>
public sealed class QuantizedGgufImportTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gguf-quant-import-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(LLamaFtype.MOSTLY_Q8_0)]
    [InlineData(LLamaFtype.MOSTLY_Q4_K_M)]
    public void QuantizedGguf_ImportsAsItsDequantizedWeights(LLamaFtype ftype)
    {
        using InMemoryHfCheckpoint hf = TinyMoe.Create("mixtral", seed: 3, hidden: 256, expertInter: 256, headDim: 64);
        string f32 = Path.Combine(_dir, "f32.gguf");
        string quantized = Path.Combine(_dir, $"{ftype}.gguf");
        HfToGgufConverter.Convert(hf, TinyMoe.Tokenizer(), f32);
        LlamaCppReference.Quantize(f32, quantized, ftype);

        string model = Path.Combine(_dir, "model");
        new HfImporter(tokenizers: new ImportTokenizerProvider())
            .Import(new ImportOptions { Source = quantized, OutputDirectory = model, WeightType = TensorDType.Float32 });
        int[] ids = TinyMoe.RandomTokens(seed: 5, count: 12);
        float[][] imported;
        using (var engine = MoeEngine.Load(new RuntimeOptions { ModelPath = model, MaxBatchTokens = 64 }, loggerFactory: null))
        {
            int v = engine.VocabSize;
            float[] flat = new float[ids.Length * v];
            using (var cache = engine.CreateCache())
            {
                engine.ForwardAllPositions([new ForwardItem(cache, ids)], flat);
            }

            imported = Enumerable.Range(0, ids.Length).Select(p => flat.AsSpan(p * v, v).ToArray()).ToArray();
        }

        float[][] reference;
        using (GgufCheckpoint gguf = GgufCheckpoint.Open(quantized))
        {
            Assert.Contains(gguf.TensorNames, n => gguf.SourceTensor(n).Type != GgmlType.F32);
            reference = ReferenceForward.Logits(gguf, ids).Select(r => r.Select(x => (float)x).ToArray()).ToArray();
        }

        double relative = Numerics.Relative(reference, imported);
        int argmax = reference.Zip(imported).Count(p => Numerics.ArgMax(p.First) == Numerics.ArgMax(p.Second));
        float[][] llama = LlamaCppReference.Evaluate(quantized, ids).Logits;
        double vsLlama = Numerics.Median(Numerics.RelativePerPosition(llama, imported));
        int argmaxLlama = llama.Zip(imported).Count(p => Numerics.ArgMax(p.First) == Numerics.ArgMax(p.Second));
        output.WriteLine($"{ftype}: import vs float64 over the dequantized weights {relative:E2}, argmax {argmax}/{ids.Length}; vs llama.cpp (activations quantized too) median {vsLlama:E2}, argmax {argmaxLlama}/{ids.Length}");

        Assert.True(relative <= 1e-3, $"{ftype}: the import differs from its dequantized weights by {relative:E2}");
        Assert.Equal(ids.Length, argmax);
    }
}
