using MoeServe.Model;
using MoeServe.Model.Quantization;
using MoeServe.Runtime.Kernels;
using MoeServe.Runtime.Tests.Support;
using MoeServe.TestSupport;
using Xunit.Abstractions;

namespace MoeServe.Runtime.Tests.Kernels;

/// <summary>
/// Which experts the managed int4 kernel takes at load (symmetric 4-bit blocks at accuracy_level 4 only), and
/// that a model run with it computes what the same model computes with an ONNX Runtime session per expert.
/// </summary>
public sealed class Int4ExpertKernelTests(ITestOutputHelper output)
{
    private static readonly int[] Prompt = [72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33, 32, 84, 104, 101, 32, 113, 117];

    // Widths that are multiples of the 32-element block, as a real model's are.
    private static readonly ModelConfig Config = TinyCheckpoint.DefaultConfig with { DModel = 64, ExpertHidden = 32 };

    [Fact]
    public void SymmetricInt4Model_RunsItsExpertsManaged_AndMatchesTheSessions()
    {
        using var model = TinyModel.Create(Config, seed: 11, quantization: new QuantizationSettings { Mode = WeightQuantization.Int4 });
        using var managed = MoeEngine.Load(model.Options());
        using var sessions = MoeEngine.Load(model.Options(o => o with { Kernels = KernelChoice.Onnx }));

        Assert.Equal(Config.Layers * Config.Experts, managed.SessionResources.ManagedExperts);
        // The embedding and the float32 head keep their sessions; qkv and post run managed (FewRowKernelTests).
        Assert.Equal(2, managed.SessionResources.Sessions);
        Assert.Equal(0, sessions.SessionResources.ManagedExperts);

        float[] a = AllPositions(managed);
        float[] b = AllPositions(sessions);
        float max = b.Max(Math.Abs);
        float diff = Logits.MaxAbsDiff(a, b);
        output.WriteLine($"managed vs sessions: max |diff| {diff:G3} of max |logit| {max:G3}");
        Assert.True(diff <= 1e-4f * max, $"max |diff| {diff} of max |logit| {max}");
        int v = managed.VocabSize;
        for (int p = 0; p < Prompt.Length; p++)
        {
            Assert.Equal(ArgMax(b.AsSpan(p * v, v)), ArgMax(a.AsSpan(p * v, v)));
        }
    }

    [Fact]
    public void ZeroPointsOrFloatOrOnnx_KeepEverySession()
    {
        using var zeroPoints = TinyModel.Create(Config, seed: 12, quantization: QuantizationSettings.For(WeightQuantization.Int4));
        using var symmetric = TinyModel.Create(Config, seed: 12, quantization: new QuantizationSettings { Mode = WeightQuantization.Int4 });
        using var float32 = TinyModel.Create(Config, seed: 12);

        Assert.True(QuantizationSettings.For(WeightQuantization.Int4)!.ZeroPoints);
        foreach (var options in new[] { zeroPoints.Options(), float32.Options(), symmetric.Options(o => o with { Kernels = KernelChoice.Onnx }) })
        {
            using var engine = MoeEngine.Load(options);
            Assert.Equal(0, engine.SessionResources.ManagedExperts);
            Assert.Equal(2 + (Config.Layers * (2 + Config.Experts)), engine.SessionResources.Sessions);
        }

        string floatExpert = Path.Combine(float32.ModelDirectory, ModelManifest.Load(float32.ModelDirectory).Graphs.Layers[0].Experts[0]);
        Assert.Null(SwiGluExpertGraph.TryLoadInt4(floatExpert, Config.DModel));
        Assert.Null(SwiGluExpertGraph.TryLoadInt4(Path.Combine(float32.ModelDirectory, "missing.onnx"), Config.DModel));
        string symmetricExpert = Path.Combine(symmetric.ModelDirectory, ModelManifest.Load(symmetric.ModelDirectory).Graphs.Layers[0].Experts[0]);
        Assert.NotNull(SwiGluExpertGraph.TryLoadInt4(symmetricExpert, Config.DModel));
        Assert.Null(SwiGluExpertGraph.TryLoadInt4(symmetricExpert, Config.DModel * 2));
    }

    [Fact]
    public void RuntimeOptions_RefuseAnUndefinedKernel()
    {
        var errors = new RuntimeOptions { ModelPath = "m", Kernels = (KernelChoice)7 }.Validate();
        Assert.Contains("kernels must be auto or onnx, got 7.", errors);
    }

    private static float[] AllPositions(MoeEngine engine)
    {
        float[] logits = new float[Prompt.Length * engine.VocabSize];
        using var cache = engine.CreateCache();
        engine.ForwardAllPositions([new ForwardItem(cache, Prompt)], logits);
        return logits;
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            best = values[i] > values[best] ? i : best;
        }

        return best;
    }
}
