using MoeServe.Model;
using MoeServe.Model.Reference;
using MoeServe.Runtime.Calibration;
using MoeServe.Runtime.Evaluation;
using MoeServe.Runtime.Tests.Support;
using MoeServe.TestSupport;

namespace MoeServe.Runtime.Tests.Calibration;

/// <summary>Calibration moves q towards balance on its text, and the served q (and its scale) changes routing as TopK(s - lambda q).</summary>
public sealed class QCalibratorTests
{
    private static int[] Text(int count, int vocab, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => random.Next(vocab))];
    }

    [Fact]
    public void Run_FromASkewedQ_LowersMaxVioGlobalOnTheCalibrationText()
    {
        // q drawn from [0, 1) dwarfs softmax scores near 1/4: the shipped q sends most tokens to the experts with the smallest q.
        using var model = TinyModel.Create(TinyCheckpoint.DefaultConfig, seed: 11, qScale: 1.0f);
        var text = Text(6144, model.Config.VocabSize, seed: 5);
        double before = MaxVioGlobal(model.Options(), text);

        var result = new QCalibrator(model.Options()).Run(text, new CalibrationOptions { BatchTokens = 128, SequenceLength = 32, AverageWindow = 20 });
        double after = MaxVioGlobal(model.Options(o => o with { QOverride = result.Q }), text);

        Assert.Equal(48, result.Batches);
        Assert.Equal(128, result.BatchTokens);
        Assert.InRange(before, 0.5, 4);
        Assert.True(after < before / 2, $"MaxVio_global {before:F3} with the skewed q, {after:F3} calibrated");
    }

    [Fact]
    public void CalibratedQ_WrittenToTheManifest_RoutesAsTopKOfSMinusQ()
    {
        using var model = TinyModel.Create(TinyCheckpoint.DefaultConfig, seed: 12, qScale: 1.0f);
        var text = Text(2048, model.Config.VocabSize, seed: 6);
        var result = new QCalibrator(model.Options()).Run(text, new CalibrationOptions { BatchTokens = 128, SequenceLength = 32, AverageWindow = 8 });
        var manifest = ModelManifest.Load(model.ModelDirectory);
        ManifestQUpdate.WithCalibratedQ(manifest, result.Q, new ManifestQSource { Data = "random", Tokens = result.Tokens }).Save(model.ModelDirectory);

        var weights = SafeTensorsFile.Read(Path.Combine(model.Root, "checkpoint", CheckpointLayout.WeightsFileName));
        var calibratedReference = new ReferenceMoeModel(model.Config, weights, result.Q);
        var prompt = text.Take(24).ToArray();
        using var engine = MoeEngine.Load(model.Options());
        var logits = LastLogits(engine, prompt);

        Assert.True(Logits.MaxAbsDiff(Logits.ReferenceLast(calibratedReference, prompt), logits) < 1e-3f);
        Assert.True(Logits.MaxAbsDiff(Logits.ReferenceLast(model.Reference, prompt), logits) > 1e-3f, "the calibrated q routes differently from the exported one");
    }

    [Fact]
    public void QScale_ServesLambdaTimesQ_ZeroIsPlainTopK()
    {
        using var model = TinyModel.Create(TinyCheckpoint.DefaultConfig, seed: 13, qScale: 0.5f);
        var prompt = Text(20, model.Config.VocabSize, seed: 7);
        using var zero = MoeEngine.Load(model.Options(o => o with { QScale = 0 }));
        using var doubled = MoeEngine.Load(model.Options(o => o with { QScale = 2 }));
        using var explicitDouble = MoeEngine.Load(model.Options(o => o with { QOverride = [.. model.Q.Select(v => v.Select(x => 2 * x).ToArray())] }));

        Assert.True(Logits.MaxAbsDiff(Logits.ReferenceLast(model.ReferencePlainTopK, prompt), LastLogits(zero, prompt)) < 1e-3f);
        Assert.Equal(LastLogits(explicitDouble, prompt), LastLogits(doubled, prompt));
        Assert.True(Logits.MaxAbsDiff(Logits.ReferenceLast(model.Reference, prompt), LastLogits(doubled, prompt)) > 1e-4f);
        var bias = new float[model.Config.Experts];
        doubled.CopyRoutingBias(0, bias);
        Assert.Equal(model.Q[0].Select(x => 2 * x), bias);
    }

    [Fact]
    public void Options_Invalid_ListEveryProblem()
    {
        var errors = new CalibrationOptions { BatchTokens = 1, Iterations = 0, SequenceLength = 0, Tokens = -1, AverageWindow = 0 }.Validate();
        Assert.Equal(5, errors.Count);
        var runtime = new RuntimeOptions { ModelPath = "m", QScale = double.NaN }.Validate();
        Assert.Contains(runtime, e => e.StartsWith("qScale must be", StringComparison.Ordinal));
        Assert.Contains(new RuntimeOptions { ModelPath = "m", QScale = -0.5 }.Validate(), e => e.StartsWith("qScale", StringComparison.Ordinal));
        Assert.Contains(new RuntimeOptions { ModelPath = "m", QScale = 17 }.Validate(), e => e.StartsWith("qScale", StringComparison.Ordinal));
        Assert.Empty(new RuntimeOptions { ModelPath = "m", QScale = 0 }.Validate());
    }

    private static double MaxVioGlobal(RuntimeOptions options, int[] text)
    {
        using var engine = MoeEngine.Load(options);
        return new PerplexityEvaluator(engine).Evaluate(text, length: 32, windowsPerStep: 4).MaxVioGlobal;
    }

    private static float[] LastLogits(MoeEngine engine, int[] prompt)
    {
        using var cache = engine.CreateCache();
        var logits = new float[engine.VocabSize];
        engine.Forward([new ForwardItem(cache, prompt)], logits);
        return logits;
    }
}
