using Google.Protobuf;
using MoeServe.Model;
using MoeServe.Model.Quantization;
using MoeServe.Runtime.Kernels;
using MoeServe.Runtime.Tests.Support;
using MoeServe.TestSupport;
using Onnx;
using Xunit.Abstractions;

namespace MoeServe.Runtime.Tests.Kernels;

/// <summary>
/// The managed float16 kernels for steps of few tokens (experts: <see cref="HalfSwiGluExpert"/>; dense graphs:
/// <see cref="FewRowDense"/>): which models get them, that decode with them computes what the sessions compute,
/// and that a dense graph the managed code would misread keeps its session.
/// </summary>
public sealed class FewRowKernelTests(ITestOutputHelper output)
{
    private static readonly int[] Prompt = [72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100];

    // Widths that are not multiples of the kernel's 32-column strips.
    private static readonly ModelConfig Config = TinyCheckpoint.DefaultConfig with { DModel = 48, Heads = 4, ExpertHidden = 40 };

    [Fact]
    public void Float16Model_DecodesWithManagedKernels_AsTheSessionsDo()
    {
        using var model = TinyModel.Create(Config, seed: 21, weightType: TensorDType.Float16);
        using var managed = MoeEngine.Load(model.Options());
        using var sessions = MoeEngine.Load(model.Options(o => o with { Kernels = KernelChoice.Onnx }));

        Assert.Equal(Config.Layers * Config.Experts, managed.SessionResources.ManagedFewRowExperts);
        Assert.Equal(2 + (2 * Config.Layers), managed.SessionResources.ManagedFewRowDenseGraphs);
        Assert.Equal(0, managed.SessionResources.ManagedExperts);
        Assert.Equal(0, sessions.SessionResources.ManagedFewRowExperts);
        Assert.Equal(0, sessions.SessionResources.ManagedFewRowDenseGraphs);

        // Three sequences, then twelve: the prompts (more tokens than FewRowDense.HalfMaxRows, so the sessions), then
        // decode steps of three tokens (every kernel on the calling thread) or twelve (the dense projections split
        // over the workers, the head in its session), the same tokens fed to both engines.
        Assert.True(Prompt.Length * 3 > FewRowDense.HalfMaxRows);
        Assert.InRange(12, ParallelMatMul.SerialRows + 1, FewRowDense.HalfMaxRows);
        Assert.True(12 > FewRowDense.HalfHeadMaxRows);
        float worst = 0;
        var a = Decode(managed, steps: 12, sequences: 3).Concat(Decode(managed, steps: 4, sequences: 12)).ToList();
        var b = Decode(sessions, steps: 12, sequences: 3).Concat(Decode(sessions, steps: 4, sequences: 12)).ToList();
        for (int s = 0; s < a.Count; s++)
        {
            float max = b[s].Max(Math.Abs);
            float diff = Logits.MaxAbsDiff(a[s], b[s]);
            worst = Math.Max(worst, diff / max);
            Assert.True(diff <= 1e-4f * max, $"step {s}: max |diff| {diff} of max |logit| {max}");
        }

        output.WriteLine($"managed vs sessions over {a.Count} decode steps: worst max |diff| / max |logit| {worst:G3}");
    }

    [Fact]
    public void Int4Model_RunsItsDenseGraphsManagedOnEveryStep_AsTheSessionsDo()
    {
        // OLMoE's structure in small: RMSNorm over the whole query and key projections, an untied float16 head, 4-bit
        // symmetric projections (widths multiples of the 32-element block).
        var config = TinyCheckpoint.DefaultConfig with { DModel = 64, ExpertHidden = 32, QkNorm = QkNormKind.Full, UntiedHead = true };
        using var model = TinyModel.Create(config, seed: 24, weightType: TensorDType.Float16, quantization: new QuantizationSettings { Mode = WeightQuantization.Int4 });
        using var managed = MoeEngine.Load(model.Options());
        using var sessions = MoeEngine.Load(model.Options(o => o with { Kernels = KernelChoice.Onnx }));

        // Only the embedding keeps a session: every qkv, post and head was checked against its own, then released.
        Assert.Equal(1 + (2 * config.Layers), managed.SessionResources.ManagedFewRowDenseGraphs);
        Assert.Equal(1, managed.SessionResources.Sessions);
        Assert.Equal(2 + (config.Layers * (2 + config.Experts)), managed.SessionResources.Graphs);
        Assert.Equal(config.Layers * config.Experts, managed.SessionResources.ManagedExperts);
        Assert.Equal(0, sessions.SessionResources.ManagedFewRowDenseGraphs);

        // Prompts of 36 tokens in one step (prefill), then decode steps of 3 and of 12 tokens, and every position of
        // one prompt (the head over all of them).
        var a = Decode(managed, steps: 6, sequences: 3).Concat(Decode(managed, steps: 3, sequences: 12)).Append(AllPositions(managed)).ToList();
        var b = Decode(sessions, steps: 6, sequences: 3).Concat(Decode(sessions, steps: 3, sequences: 12)).Append(AllPositions(sessions)).ToList();
        for (int s = 0; s < a.Count; s++)
        {
            float max = b[s].Max(Math.Abs);
            float diff = Logits.MaxAbsDiff(a[s], b[s]);
            Assert.True(diff <= 1e-4f * max, $"step {s}: max |diff| {diff} of max |logit| {max}");
        }
    }

    [Fact]
    public void Float32OrOnnx_HaveNoFewRowKernels()
    {
        using var float32 = TinyModel.Create(Config, seed: 22);
        using var float16 = TinyModel.Create(Config, seed: 22, weightType: TensorDType.Float16);
        foreach (var options in new[] { float32.Options(), float16.Options(o => o with { Kernels = KernelChoice.Onnx }) })
        {
            using var engine = MoeEngine.Load(options);
            Assert.Equal(0, engine.SessionResources.ManagedFewRowExperts);
            Assert.Equal(0, engine.SessionResources.ManagedFewRowDenseGraphs);
        }

        string floatExpert = Path.Combine(float32.ModelDirectory, ModelManifest.Load(float32.ModelDirectory).Graphs.Layers[0].Experts[0]);
        string halfExpert = Path.Combine(float16.ModelDirectory, ModelManifest.Load(float16.ModelDirectory).Graphs.Layers[0].Experts[0]);
        Assert.Null(SwiGluExpertGraph.TryLoadHalf(floatExpert, Config.DModel));
        Assert.Null(SwiGluExpertGraph.TryLoadInt4(halfExpert, Config.DModel));
        Assert.Null(SwiGluExpertGraph.TryLoadHalf(halfExpert, Config.DModel * 2));
        Assert.NotNull(SwiGluExpertGraph.TryLoadHalf(halfExpert, Config.DModel));
    }

    [Fact]
    public void HeadWhoseNamedWeightIsNotTheOneItUses_KeepsItsSession()
    {
        using var model = TinyModel.Create(Config, seed: 23, weightType: TensorDType.Float16);

        // The head's MatMul now reads a copy of the weight under another name, and the name the managed code reads
        // holds zeros: the session still computes the real head, the managed head would not, and the load-time
        // check must notice.
        string head = Path.Combine(model.ModelDirectory, ModelManifest.Load(model.ModelDirectory).Graphs.Head);
        var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(head));
        var named = graph.Graph.Initializer.Single(t => t.Name == "tok_embeddings_t_fp16");
        var real = named.Clone();
        real.Name = "moved_weight";
        graph.Graph.Initializer.Add(real);
        graph.Graph.Node.Single(n => n.OpType == "Cast" && n.Input[0] == named.Name).Input[0] = real.Name;
        named.RawData = ByteString.CopyFrom(new byte[named.RawData.Length]);
        File.WriteAllBytes(head, graph.ToByteArray());

        using var engine = MoeEngine.Load(model.Options());
        Assert.Equal(1 + (2 * Config.Layers), engine.SessionResources.ManagedFewRowDenseGraphs);
        using var sessions = MoeEngine.Load(model.Options(o => o with { Kernels = KernelChoice.Onnx }));
        var a = Decode(engine, steps: 2, sequences: 3);
        var b = Decode(sessions, steps: 2, sequences: 3);
        Assert.True(Logits.MaxAbsDiff(a[^1], b[^1]) <= 1e-4f * b[^1].Max(Math.Abs));
    }

    // The sequences' prompts (the prompt from its s-th token) in one step, then greedy decode steps of one token
    // each; the logits of every step.
    private static List<float[]> Decode(MoeEngine engine, int steps, int sequences)
    {
        int v = engine.VocabSize;
        var caches = Enumerable.Range(0, sequences).Select(_ => engine.CreateCache()).ToArray();
        try
        {
            var result = new List<float[]>();
            var tokens = Enumerable.Range(0, sequences).Select(s => Prompt.Skip(s).ToArray()).ToArray();
            for (int step = 0; step <= steps; step++)
            {
                var batch = Enumerable.Range(0, sequences).Select(s => new ForwardItem(caches[s], tokens[s])).ToArray();
                float[] logits = new float[sequences * v];
                engine.Forward(batch, logits);
                result.Add(logits);
                for (int s = 0; s < sequences; s++)
                {
                    var row = logits.AsSpan(s * v, v);
                    tokens[s] = [row.IndexOf(TensorMax(row))];
                }
            }

            return result;
        }
        finally
        {
            foreach (var cache in caches)
            {
                cache.Dispose();
            }
        }
    }

    private static float[] AllPositions(MoeEngine engine)
    {
        float[] logits = new float[Prompt.Length * engine.VocabSize];
        using var cache = engine.CreateCache();
        engine.ForwardAllPositions([new ForwardItem(cache, Prompt)], logits);
        return logits;
    }

    private static float TensorMax(ReadOnlySpan<float> values) => System.Numerics.Tensors.TensorPrimitives.Max(values);
}
