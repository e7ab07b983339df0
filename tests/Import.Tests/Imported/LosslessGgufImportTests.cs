using MoeServe.Import.Tests.Support;
using MoeServe.Model;
using MoeServe.Model.Gguf;
using MoeServe.Model.Import;
using MoeServe.Model.Quantization;
using MoeServe.Runtime;
using MoeServe.TestSupport;
using MoeServe.Text.Import;
using Onnx;
using Xunit.Abstractions;

namespace MoeServe.Import.Tests.Imported;

/// <summary>
/// A GGUF whose weights are Q8_0 or Q4_0 (written by the project's GgufWriter with ggml's reference
/// rounding) imports at --weights int8 / int4 without a float round trip: every expert and attention
/// matrix (and the untied head) is copied from its blocks (the llama q/k row permutation undone on whole rows), its MatMulNBits
/// initializers dequantize bit for bit to llama.cpp's dequantized weights, and with float compute
/// (accuracy_level 1) the model's logits equal a float64 forward over those weights. llama.cpp on the same
/// file quantizes its activations too (to Q8_0 / Q8_1 blocks), and so does MatMulNBits' default
/// accuracy_level 4: both are measured and reported against the float64 reference.
/// </summary>
public sealed class LosslessGgufImportTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gguf-lossless-import-").FullName;
    private readonly QuantizationError _requantized = new();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(GgmlType.Q8_0, WeightQuantization.Int8)]
    [InlineData(GgmlType.Q4_0, WeightQuantization.Int4)]
    public void BlockQuantizedGguf_ImportsLosslessly(GgmlType type, WeightQuantization mode)
    {
        using InMemoryHfCheckpoint hf = TinyMoe.Create("mixtral", seed: 3, hidden: 256, expertInter: 256, headDim: 64);
        string gguf = Path.Combine(_dir, $"{type}.gguf");
        HfToGgufConverter.Convert(hf, TinyMoe.Tokenizer(), gguf, weightType: type);

        string exact = Import(gguf, mode, accuracyLevel: 1, out ImportResult result);
        var config = result.Manifest.Config;
        Assert.True(config.UntiedHead);
        int expected = (config.Layers * (4 + (3 * config.Experts))) + 1; // q, k, v, o and each expert's w1, w2, w3; the head
        Assert.Equal(expected, result.Quantization!.CopiedMatrices);
        Assert.Equal(expected, result.Quantization.Matrices);

        int[] ids = TinyMoe.RandomTokens(seed: 5, count: 12);
        float[][] reference;
        using (GgufCheckpoint checkpoint = GgufCheckpoint.Open(gguf))
        {
            Assert.Equal(type, checkpoint.SourceTensor("model.layers.0.self_attn.q_proj.weight").Type);
            for (int layer = 0; layer < config.Layers; layer++)
            {
                string p = $"model.layers.{layer}.";
                AssertInitializerIsGgml(checkpoint, Path.Combine(exact, GraphNames.QkvFile(layer)), "wqkv", [p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight"]);
                AssertInitializerIsGgml(checkpoint, Path.Combine(exact, GraphNames.PostFile(layer)), "wo", [p + "self_attn.o_proj.weight"]);
                for (int e = 0; e < config.Experts; e++)
                {
                    string x = $"{p}block_sparse_moe.experts.{e}.";
                    string file = Path.Combine(exact, GraphNames.ExpertFile(layer, e));
                    AssertInitializerIsGgml(checkpoint, file, "w13", [x + "w1.weight", x + "w3.weight"]);
                    AssertInitializerIsGgml(checkpoint, file, "w2", [x + "w2.weight"]);
                }
            }

            AssertInitializerIsGgml(checkpoint, Path.Combine(exact, GraphNames.HeadFile), "output", ["lm_head.weight"]);
            reference = ReferenceForward.Logits(checkpoint, ids).Select(r => r.Select(v => (float)v).ToArray()).ToArray();
        }

        float[][] level1 = Logits(exact, ids);
        float[][] level4 = Logits(Import(gguf, mode, QuantizationSettings.DefaultAccuracyLevel, out _), ids);
        float[][] llama = LlamaCppReference.Evaluate(gguf, ids).Logits;

        double exactVsReference = Numerics.Relative(reference, level1);
        double level4VsReference = Numerics.Relative(reference, level4);
        double llamaVsReference = Numerics.Relative(reference, llama);
        double exactVsLlama = Numerics.Relative(llama, level1);
        double level4VsLlama = Numerics.Relative(llama, level4);
        double llamaMedian = Numerics.Median(Numerics.RelativePerPosition(reference, llama));
        int argmax = reference.Zip(level1).Count(p => Numerics.ArgMax(p.First) == Numerics.ArgMax(p.Second));
        output.WriteLine($"{type} -> {mode.DisplayName()}: {expected} matrices copied; vs float64 over llama.cpp's dequantized weights: import (accuracy_level 1) {exactVsReference:E2}, import (level 4) {level4VsReference:E2}, llama.cpp {llamaVsReference:E2}; llama.cpp's median per position {llamaMedian:E2}; import vs llama.cpp: level 1 {exactVsLlama:E2}, level 4 {level4VsLlama:E2}; argmax {argmax}/{ids.Length}; re-quantizing instead would have cost a relative RMS error of {_requantized.RelativeRms:G3} (max {_requantized.MaxAbsError:G3})");

        Assert.True(exactVsReference <= 1e-3, $"{type}: the import differs from the float64 forward over the GGUF's weights by {exactVsReference:E2}");
        Assert.Equal(ids.Length, argmax);

        // llama.cpp cannot be matched to 1e-3 here: it quantizes its activations, and is itself that far from the
        // exact forward over its own weights. The import must be no farther from it than that (a wrong block
        // layout or row order would be far off).
        Assert.True(exactVsLlama <= (1.1 * llamaVsReference) + 1e-3, $"{type}: import vs llama.cpp {exactVsLlama:E2}, llama.cpp vs exact {llamaVsReference:E2}");
    }

    [Fact]
    public void MixedTypes_CopyWhatIsExactAndRequantizeTheRest()
    {
        using InMemoryHfCheckpoint hf = TinyMoe.Create("mixtral", seed: 4, hidden: 256, expertInter: 256, headDim: 64);
        string q4 = Path.Combine(_dir, "q4.gguf");
        string f32 = Path.Combine(_dir, "f32.gguf");
        string mixed = Path.Combine(_dir, "mixed.gguf");
        HfToGgufConverter.Convert(hf, TinyMoe.Tokenizer(), q4, weightType: GgmlType.Q4_0);
        HfToGgufConverter.Convert(hf, TinyMoe.Tokenizer(), f32);

        // Layer 0's V and its experts' up projections (W3) in F16: the fused Q/K/V and W1/W3 nodes mix copied and re-quantized rows.
        string[] asF16 = ["blk.0.attn_v.weight", "blk.0.ffn_up_exps.weight"];
        using (var source = GgufFile.Open(q4))
        using (var floats = GgufFile.Open(f32))
        {
            var writer = new GgufWriter();
            foreach (string key in source.MetadataKeys)
            {
                writer.Add(key, source.Metadata[key]);
            }

            foreach (var tensor in source.Tensors)
            {
                if (asF16.Contains(tensor.Name))
                {
                    float[] values = new float[tensor.ElementCount];
                    floats.ReadFloat32(floats.GetTensor(tensor.Name), values);
                    writer.AddTensor(tensor.Name, tensor.Dimensions, GgmlType.F16, GgufWriter.Encode(GgmlType.F16, values));
                }
                else
                {
                    writer.AddTensor(tensor.Name, tensor.Dimensions, tensor.Type, source.GetBytes(tensor, 0, tensor.ElementCount).ToArray());
                }
            }

            writer.WriteTo(mixed);
        }

        string model = Import(mixed, WeightQuantization.Int4, accuracyLevel: 1, out ImportResult result);
        var config = result.Manifest.Config;
        Assert.Equal((config.Layers * (4 + (3 * config.Experts))) + 1, result.Quantization!.Matrices);
        Assert.Equal(result.Quantization.Matrices - 1 - config.Experts, result.Quantization.CopiedMatrices);
        Assert.True(result.Quantization.RelativeRms > 0, "the F16 matrices were re-quantized, so they must show an error");

        int[] ids = TinyMoe.RandomTokens(seed: 5, count: 12);
        float[][] reference;
        using (GgufCheckpoint checkpoint = GgufCheckpoint.Open(mixed))
        {
            // The copied Q and K rows of the mixed node are still llama.cpp's values bit for bit (zero point 8 written out).
            var initializers = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(model, GraphNames.QkvFile(0)))).Graph.Initializer.ToDictionary(t => t.Name);
            var codes = initializers["wqkv_q"];
            int n = (int)codes.Dims[0];
            int k = (int)codes.Dims[1] * 32;
            float[] scales = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(initializers["wqkv_scales"].RawData.Span).ToArray();
            float[] imported = BlockwiseQuantizer.Dequantize(new BlockQuantizedMatrix(n, k, 4, 32, codes.RawData.ToByteArray(), scales, initializers["wqkv_zero_points"].RawData.ToByteArray()));
            int qk = 0;
            foreach (string name in new[] { "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight" })
            {
                int count = (int)checkpoint.Shape(name).Aggregate(1L, (a, b) => a * b);
                float[] ggml = new float[count];
                checkpoint.ReadFloat32(name, ggml);
                for (int i = 0; i < count; i++)
                {
                    Assert.True(BitConverter.SingleToInt32Bits(ggml[i]) == BitConverter.SingleToInt32Bits(imported[qk + i]), $"{name}[{i}]: {imported[qk + i]:R}, llama.cpp {ggml[i]:R}");
                }

                qk += count;
            }

            // The V rows are the quantizer's int4 (with zero points) of the F16 weights, unchanged by the stacking.
            const string vName = "model.layers.0.self_attn.v_proj.weight";
            int vRows = (int)checkpoint.Shape(vName)[0];
            float[] vWeights = new float[vRows * k];
            checkpoint.ReadFloat32(vName, vWeights);
            float[] requantized = BlockwiseQuantizer.Dequantize(QuantizationSettings.For(WeightQuantization.Int4)!.Quantize(vWeights, vRows, k));
            Assert.Equal(n * k, qk + requantized.Length);
            Assert.Equal(requantized, imported.AsSpan(qk).ToArray());

            reference = ReferenceForward.Logits(checkpoint, ids).Select(r => r.Select(v => (float)v).ToArray()).ToArray();
        }

        float[][] logits = Logits(model, ids);
        double relative = Numerics.Relative(reference, logits);
        double median = Numerics.Median(Numerics.RelativePerPosition(reference, logits));
        output.WriteLine($"mixed Q4_0 + F16 -> int4: {result.Quantization.CopiedMatrices} of {result.Quantization.Matrices} matrices copied, the rest re-quantized (relative RMS {result.Quantization.RelativeRms:G3}); logits vs float64 over the GGUF's weights {relative:E2} (median per position {median:E2})");

        // Layer 0's V and W3 carry int4 rounding error (about 6% RMS of those weights), which on this tiny random
        // model moves the logits by about 1e-1 of their largest value: a loose bound that still catches a model
        // that does not run or a scrambled matrix (those land near 1).
        Assert.True(relative <= 0.3, $"mixed import differs from the GGUF's weights by {relative:E2}");
    }

    private string Import(string gguf, WeightQuantization mode, int accuracyLevel, out ImportResult result)
    {
        string model = Path.Combine(_dir, $"{Path.GetFileNameWithoutExtension(gguf)}-{mode.DisplayName()}-level{accuracyLevel}");
        result = new HfImporter(tokenizers: new ImportTokenizerProvider()).Import(new ImportOptions
        {
            Source = gguf,
            OutputDirectory = model,
            WeightType = TensorDType.Float32,
            Quantization = QuantizationSettings.For(mode)! with { AccuracyLevel = accuracyLevel },
        });
        return model;
    }

    private static float[][] Logits(string model, int[] ids)
    {
        using var engine = MoeEngine.Load(new RuntimeOptions { ModelPath = model, MaxBatchTokens = 64 }, loggerFactory: null);
        int v = engine.VocabSize;
        float[] flat = new float[ids.Length * v];
        using (var cache = engine.CreateCache())
        {
            engine.ForwardAllPositions([new ForwardItem(cache, ids)], flat);
        }

        return Enumerable.Range(0, ids.Length).Select(p => flat.AsSpan(p * v, v).ToArray()).ToArray();
    }

    // The node's B and scales, dequantized the way MatMulNBits defines it, against the stacked rows of the
    // GGUF tensors as llama.cpp dequantizes them (q/k rows un-permuted by the reader): equal bit for bit.
    private void AssertInitializerIsGgml(GgufCheckpoint checkpoint, string graph, string stem, string[] tensors)
    {
        var initializers = ModelProto.Parser.ParseFrom(File.ReadAllBytes(graph)).Graph.Initializer.ToDictionary(t => t.Name);
        Assert.False(initializers.ContainsKey(stem + "_zero_points"), $"{graph}: {stem} has zero points; copied Q8_0/Q4_0 blocks need none");
        var codes = initializers[stem + "_q"];
        int n = (int)codes.Dims[0];
        int blob = (int)codes.Dims[2];
        int k = (int)codes.Dims[1] * 32;
        float[] scales = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(initializers[stem + "_scales"].RawData.Span).ToArray();
        float[] imported = BlockwiseQuantizer.Dequantize(new BlockQuantizedMatrix(n, k, blob * 8 / 32, 32, codes.RawData.ToByteArray(), scales, null));

        float[] ggml = new float[n * k];
        int offset = 0;
        foreach (string name in tensors)
        {
            int count = (int)checkpoint.Shape(name).Aggregate(1L, (a, b) => a * b);
            checkpoint.ReadFloat32(name, ggml.AsSpan(offset, count));
            offset += count;
        }

        Assert.Equal(ggml.Length, offset);

        // For the record: what the dequantize-and-re-quantize path would have lost on the same weights.
        int bits = blob * 8 / 32;
        _requantized.Add(ggml, QuantizationSettings.For(bits == 8 ? WeightQuantization.Int8 : WeightQuantization.Int4)!.Quantize(ggml, n, k));
        for (int i = 0; i < ggml.Length; i++)
        {
            Assert.True(BitConverter.SingleToInt32Bits(ggml[i]) == BitConverter.SingleToInt32Bits(imported[i]), $"{graph} {stem}[{i / k}, {i % k}]: {imported[i]:R}, llama.cpp {ggml[i]:R}");
        }
    }
}
