using MoeServe.Model;
using MoeServe.Model.Import;
using MoeServe.Runtime.Evaluation;
using MoeServe.Runtime.Generation;
using MoeServe.Runtime.Sampling;
using MoeServe.TestSupport;
using Xunit.Abstractions;

namespace MoeServe.Runtime.Tests.Import;

/// <summary>
/// A tiny random checkpoint of each family (Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE) in Hugging Face form,
/// imported and run through the per-expert ONNX path, against the independent float64 forward written
/// from transformers' modeling code (<see cref="HfReferenceForward"/>): prefill, decode through the KV
/// cache, eval and generate.
/// </summary>
public sealed class FamilyImportTests(ITestOutputHelper output) : IDisposable
{
    private static readonly int[] Prompt = [72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33, 32, 84, 104, 101, 32, 113, 117, 105, 99, 107, 32, 98, 114, 111, 119, 110];

    private readonly string _root = Path.Combine(Path.GetTempPath(), "moeserve-family-" + Guid.NewGuid().ToString("N"));

    public static TheoryData<HfFamily> Families => new() { HfFamily.Mixtral, HfFamily.Qwen2Moe, HfFamily.Qwen3Moe, HfFamily.Olmoe };

    public static TheoryData<HfFamily, string> StoredTypes => new()
    {
        { HfFamily.Qwen2Moe, "BF16" },
        { HfFamily.Qwen3Moe, "F16" },
        { HfFamily.Olmoe, "BF16" },
    };

    [Theory]
    [MemberData(nameof(Families))]
    public void ImportedFloat32_MatchesReferenceAtEveryPosition(HfFamily family)
    {
        var (model, engine) = Import(family, "F32", TensorDType.Float32);
        using (engine)
        {
            double[][] reference = new HfReferenceForward(model).Forward(Prompt);
            float[] logits = AllPositions(engine, Prompt);
            double relative = Relative(reference, logits, engine.VocabSize, 0, Prompt.Length);
            output.WriteLine($"{family}: float32 import vs float64 reference, {Prompt.Length} positions: max rel diff {relative:G3}");
            Assert.True(relative <= 1e-3, $"{family}: max |diff| / max |logit| = {relative:G4}");
            for (int p = 0; p < Prompt.Length; p++)
            {
                int expected = Array.IndexOf(reference[p], reference[p].Max());
                Assert.Equal(expected, System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.AsSpan(p * engine.VocabSize, engine.VocabSize)));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void DecodeThroughKvCache_MatchesReference(HfFamily family)
    {
        var (model, engine) = Import(family, "F32", TensorDType.Float32);
        using (engine)
        {
            double[][] reference = new HfReferenceForward(model).Forward(Prompt);
            int v = engine.VocabSize;
            float[] last = new float[v];
            using var cache = engine.CreateCache();
            const int prefill = 7;
            engine.Forward([new ForwardItem(cache, Prompt.AsMemory(0, prefill))], last);
            double worst = Relative(reference[prefill - 1], last);
            for (int p = prefill; p < Prompt.Length; p++)
            {
                engine.Forward([new ForwardItem(cache, Prompt.AsMemory(p, 1))], last);
                worst = Math.Max(worst, Relative(reference[p], last));
            }

            output.WriteLine($"{family}: prefill {prefill} + {Prompt.Length - prefill} decode steps: max rel diff {worst:G3}");
            Assert.True(worst <= 1e-3, $"{family}: decode max rel diff {worst:G4}");
        }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void FusedExpertTensors_ImportLikePerExpertOnes(HfFamily family)
    {
        var (model, engine) = Import(family, "F32", TensorDType.Float32, fusedExperts: true);
        using (engine)
        {
            double[][] reference = new HfReferenceForward(model).Forward(Prompt);
            double relative = Relative(reference, AllPositions(engine, Prompt), engine.VocabSize, 0, Prompt.Length);
            output.WriteLine($"{family}: fused 3D expert tensors, float32 import: max rel diff {relative:G3}");
            Assert.True(relative <= 1e-3, $"{family} fused: {relative:G4}");
        }
    }

    [Theory]
    [MemberData(nameof(StoredTypes))]
    public void HalfPrecisionCheckpoint_ReadsExactly(HfFamily family, string dtype)
    {
        var (model, engine) = Import(family, dtype, TensorDType.Float32);
        using (engine)
        {
            double[][] reference = new HfReferenceForward(model, dtype).Forward(Prompt);
            double relative = Relative(reference, AllPositions(engine, Prompt), engine.VocabSize, 0, Prompt.Length);
            output.WriteLine($"{family}: {dtype} checkpoint, float32 import: max rel diff {relative:G3}");
            Assert.True(relative <= 1e-3, $"{family} {dtype}: {relative:G4}");
        }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Float16Import_StaysClose(HfFamily family)
    {
        var (model, engine) = Import(family, "F32", TensorDType.Float16);
        using (engine)
        {
            double[][] reference = new HfReferenceForward(model).Forward(Prompt);
            double relative = Relative(reference, AllPositions(engine, Prompt), engine.VocabSize, 0, Prompt.Length);
            output.WriteLine($"{family}: float16 import: max rel diff {relative:G3}");
            Assert.True(relative <= 2e-2, $"{family} float16: {relative:G4}");
        }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void EvalAndGenerate_RunOnTheImportedModel(HfFamily family)
    {
        var (model, engine) = Import(family, "F32", TensorDType.Float32);
        using (engine)
        {
            // eval: one window of the prompt (28 tokens, each predicting the next); its loss is the mean next-token NLL of the reference logits.
            var result = new PerplexityEvaluator(engine).Evaluate(Prompt, length: Prompt.Length - 1, tokenLimit: 0, windowsPerStep: 1);
            double[][] reference = new HfReferenceForward(model).Forward(Prompt);
            double nll = 0;
            for (int p = 0; p + 1 < Prompt.Length; p++)
            {
                double max = reference[p].Max();
                nll += max + Math.Log(reference[p].Sum(x => Math.Exp(x - max))) - reference[p][Prompt[p + 1]];
            }

            double expectedLoss = nll / (Prompt.Length - 1);
            output.WriteLine($"{family}: eval loss {result.Loss:F6} vs reference {expectedLoss:F6}, perplexity {result.Perplexity:F3}");
            Assert.Equal(expectedLoss, result.Loss, 3);

            // generate: TextGenerator runs greedily; the engine's greedy chain equals the reference's argmax chain.
            var generated = new TextGenerator(engine).Generate("Hello", new SamplingParameters { Temperature = 0, MaxTokens = 6, StopAtEndOfText = false });
            Assert.Equal(6, generated.CompletionTokens);
            var ids = engine.Tokenizer.EncodeToIds("Hello").ToList();
            Assert.Equal([72, 101, 108, 108, 111], ids);
            var forward = new HfReferenceForward(model);
            var engineIds = new List<int>(ids);
            float[] last = new float[engine.VocabSize];
            using (var cache = engine.CreateCache())
            {
                engine.Forward([new ForwardItem(cache, engineIds.ToArray())], last);
                for (int i = 0; i < 6; i++)
                {
                    int next = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(last);
                    engineIds.Add(next);
                    engine.Forward([new ForwardItem(cache, new[] { next })], last);
                }
            }

            for (int i = 0; i < 6; i++)
            {
                double[] row = forward.Forward(ids)[^1];
                ids.Add(Array.IndexOf(row, row.Max()));
            }

            Assert.Equal(ids, engineIds);
            var continuation = ids.Skip(5).ToArray();
            output.WriteLine($"{family}: greedy continuation [{string.Join(", ", continuation)}], text {generated.Text.Length} chars");
            Assert.Equal(engine.Tokenizer.Decode(continuation), generated.Text);
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private (TinyHfModel Model, MoeEngine Engine) Import(HfFamily family, string storedType, TensorDType weightType, bool fusedExperts = false)
    {
        string source = Path.Combine(_root, $"{family}-{storedType}-hf");
        var model = TinyHfCheckpoint.Write(family, source, seed: 1234 + (int)family, storedType, fusedExperts: fusedExperts);
        string target = Path.Combine(_root, $"{family}-{storedType}-{weightType}");
        new HfImporter().Import(new ImportOptions { Source = source, OutputDirectory = target, WeightType = weightType });
        return (model, MoeEngine.Load(new RuntimeOptions { ModelPath = target, MaxBatchTokens = 128, MaxSequences = 4, KvCacheDType = KvCacheDType.Float32 }, loggerFactory: null));
    }

    private static float[] AllPositions(MoeEngine engine, int[] ids)
    {
        float[] logits = new float[ids.Length * engine.VocabSize];
        using var cache = engine.CreateCache();
        engine.ForwardAllPositions([new ForwardItem(cache, ids)], logits);
        return logits;
    }

    private static double Relative(double[][] reference, float[] logits, int v, int from, int to)
    {
        double worst = 0;
        for (int p = from; p < to; p++)
        {
            worst = Math.Max(worst, Relative(reference[p], logits.AsSpan(p * v, v)));
        }

        return worst;
    }

    private static double Relative(double[] reference, ReadOnlySpan<float> logits)
    {
        double diff = 0;
        double max = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs(reference[i] - logits[i]));
            max = Math.Max(max, Math.Abs(reference[i]));
        }

        return diff / max;
    }
}
