using MoeServe.Model;
using MoeServe.Model.Import;
using MoeServe.Model.Quantization;
using MoeServe.TestSupport;
using Xunit.Abstractions;

namespace MoeServe.Runtime.Tests.Import;

/// <summary>
/// <c>import --weights int8|int4</c> on a tiny checkpoint of each family (GQA, q/k norms, QKV biases,
/// gated shared expert: every shape the quantized Q/K/V, Wo and expert matrices meet), run by the engine.
/// </summary>
public sealed class QuantizedImportTests(ITestOutputHelper output) : IDisposable
{
    private static readonly int[] Prompt = [72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33, 32, 84, 104, 101, 32, 113, 117, 105, 99, 107];

    private readonly string _root = Path.Combine(Path.GetTempPath(), "moeserve-quantized-import-" + Guid.NewGuid().ToString("N"));

    public static TheoryData<HfFamily, WeightQuantization> Cases => new()
    {
        { HfFamily.Mixtral, WeightQuantization.Int8 },
        { HfFamily.Qwen2Moe, WeightQuantization.Int4 },
        { HfFamily.Qwen3Moe, WeightQuantization.Int8 },
        { HfFamily.Olmoe, WeightQuantization.Int4 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void QuantizedImport_AccuracyLevel1_MatchesTheReferenceOverDequantizedWeights(HfFamily family, WeightQuantization weights)
    {
        // Level 1 computes in float32 on the dequantized weights, so the imported model must be the float64
        // reference forward run on those weights: proves which matrices are quantized and how they are wired.
        var settings = QuantizationSettings.For(weights)! with { AccuracyLevel = 1 };
        var (model, engine) = Import(family, settings);
        using (engine)
        {
            var dequantized = model with
            {
                Tensors = model.Tensors.ToDictionary(
                    p => p.Key,
                    p => IsQuantized(p.Key, p.Value.Shape)
                        ? (p.Value.Shape, BlockwiseQuantizer.Dequantize(settings.Quantize(p.Value.Data, (int)p.Value.Shape[0], (int)p.Value.Shape[1])))
                        : p.Value),
            };
            double relative = Relative(new HfReferenceForward(dequantized).Forward(Prompt), AllPositions(engine));
            output.WriteLine($"{family} {weights} (level 1) vs reference over dequantized weights: {relative:G3}");
            Assert.True(relative <= 1e-3, $"{family} {weights}: {relative:G4}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void QuantizedImport_DefaultSettings_StaysNearTheFloatReference(HfFamily family, WeightQuantization weights)
    {
        var (model, engine) = Import(family, QuantizationSettings.For(weights)!);
        using (engine)
        {
            Assert.Equal(weights, engine.Manifest.Weights);
            double[][] reference = new HfReferenceForward(model).Forward(Prompt);
            float[] logits = AllPositions(engine);
            double[] perPosition = Enumerable.Range(0, Prompt.Length).Select(p => Relative([reference[p]], logits.AsSpan(p * engine.VocabSize, engine.VocabSize).ToArray())).Order().ToArray();
            double median = perPosition[perPosition.Length / 2];

            // The median position: a position where quantization flips an expert choice (a near-tie in these
            // random routers) differs by much more, up to 18% at int8. Measured medians: int8 3.0-3.3%, int4
            // 22-32% (these tiny checkpoints' weights are scaled so every part moves the logits strongly; the
            // exact wiring is the level-1 test above). The bounds leave room for other CPUs' int8 kernels.
            double bound = weights == WeightQuantization.Int8 ? 0.08 : 0.6;
            output.WriteLine($"{family} {weights}: median per-position relative logit error {median:G3}, worst {perPosition[^1]:G3}");
            Assert.True(median <= bound, $"{family} {weights}: median {median:G4} > {bound}");
            Assert.True(perPosition[^1] > 0, "quantized logits equal to the float reference mean nothing was quantized");
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    // What the importer stores as MatMulNBits weights, by Hugging Face name: Q/K/V/O projections and every
    // expert matrix (routed and shared); never the router gate, the shared-expert gate, norms or embeddings.
    private static bool IsQuantized(string name, long[] shape) =>
        shape.Length == 2
        && ((name.Contains("self_attn.", StringComparison.Ordinal) && name.EndsWith("_proj.weight", StringComparison.Ordinal))
            || name.Contains(".experts.", StringComparison.Ordinal)
            || name.Contains("shared_expert.", StringComparison.Ordinal));

    private (TinyHfModel Model, MoeEngine Engine) Import(HfFamily family, QuantizationSettings settings)
    {
        string source = Path.Combine(_root, $"{family}-hf");
        var model = TinyHfCheckpoint.Write(family, source, seed: 1234 + (int)family, "F32");
        string target = Path.Combine(_root, $"{family}-{settings.Mode}-{settings.AccuracyLevel}");
        new HfImporter().Import(new ImportOptions { Source = source, OutputDirectory = target, WeightType = TensorDType.Float32, Quantization = settings });
        return (model, MoeEngine.Load(new RuntimeOptions { ModelPath = target, MaxBatchTokens = 128, MaxSequences = 4, KvCacheDType = KvCacheDType.Float32 }, loggerFactory: null));
    }

    private static float[] AllPositions(MoeEngine engine)
    {
        float[] logits = new float[Prompt.Length * engine.VocabSize];
        using var cache = engine.CreateCache();
        engine.ForwardAllPositions([new ForwardItem(cache, Prompt)], logits);
        return logits;
    }

    private static double Relative(double[][] reference, float[] logits)
    {
        int v = reference[0].Length;
        double diff = 0;
        double max = 0;
        for (int p = 0; p < reference.Length; p++)
        {
            for (int i = 0; i < v; i++)
            {
                diff = Math.Max(diff, Math.Abs(reference[p][i] - logits[(p * v) + i]));
                max = Math.Max(max, Math.Abs(reference[p][i]));
            }
        }

        return diff / max;
    }
}
