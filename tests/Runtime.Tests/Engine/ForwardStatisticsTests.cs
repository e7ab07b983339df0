using MoeServe.Router;
using MoeServe.Runtime.Tests.Support;

namespace MoeServe.Runtime.Tests.Engine;

public sealed class ForwardStatisticsTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private static readonly int[] Prompt = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

    [Fact]
    public void Forward_WithStatistics_CountsEveryRoutedTokenAndComputesMaxVio()
    {
        var config = fixture.Model.Config;
        using var engine = MoeEngine.Load(fixture.Model.Options());
        using var a = engine.CreateCache();
        using var b = engine.CreateCache();
        var stats = engine.CreateStatistics();
        var logits = new float[2 * engine.VocabSize];
        engine.Forward([new ForwardItem(a, Prompt), new ForwardItem(b, new[] { 3, 4 })], logits, stats);

        Assert.Equal(2, stats.Sequences);
        Assert.Equal(18, stats.Tokens);
        int runs = 0;
        for (int l = 0; l < config.Layers; l++)
        {
            var loads = stats.ExpertTokens(l);
            Assert.Equal(18 * config.TopK, loads.ToArray().Sum());
            double mean = 18.0 * config.TopK / config.Experts;
            Assert.Equal((loads.ToArray().Max() - mean) / mean, stats.MaxVio(l), 6);
            for (int j = 0; j < config.Experts; j++)
            {
                Assert.Equal(loads[j] > 0, stats.ExpertRunSeconds(l)[j] > 0);
                runs += loads[j] > 0 ? 1 : 0;
            }

            Assert.True(stats.MakespanSeconds(l) > 0);
            Assert.True(stats.WorkerBusySeconds(l).ToArray().Sum() > 0);
            Assert.True(stats.MakespanSeconds(l) >= stats.WorkerBusySeconds(l).ToArray().Max() * 0.5);
        }

        // Batched dispatch: one Run per expert with tokens, per layer.
        Assert.Equal(runs, stats.ExpertRuns);
        Assert.True(stats.TotalSeconds >= stats.DenseSeconds + stats.ExpertPhaseSeconds);
        Assert.InRange(stats.AttentionSeconds, double.Epsilon, stats.DenseSeconds);
    }

    [Fact]
    public void Forward_PerTokenDispatch_RunsOncePerAssignment()
    {
        var config = fixture.Model.Config;
        using var engine = MoeEngine.Load(fixture.Model.Options(o => o with { Dispatch = ExpertDispatchMode.PerToken }));
        using var cache = engine.CreateCache();
        var stats = engine.CreateStatistics();
        engine.Forward([new ForwardItem(cache, Prompt)], new float[engine.VocabSize], stats);
        Assert.Equal(Prompt.Length * config.TopK * config.Layers, stats.ExpertRuns);
    }

    [Fact]
    public void Forward_OnlineBip_BalancesBetterThanPlainTopKOnTheSameTokens()
    {
        var tokens = Enumerable.Range(0, 48).Select(i => (i * 37) % 256).ToArray();
        double MaxVio(RoutingMethod routing)
        {
            using var engine = MoeEngine.Load(fixture.Model.Options(o => o with { Routing = routing, OnlineBipIterations = 4 }));
            using var cache = engine.CreateCache();
            var stats = engine.CreateStatistics();
            engine.Forward([new ForwardItem(cache, tokens)], new float[engine.VocabSize], stats);
            return stats.MeanMaxVio;
        }

        using (var online = MoeEngine.Load(fixture.Model.Options(o => o with { Routing = RoutingMethod.Bip })))
        using (var trained = MoeEngine.Load(fixture.Model.Options()))
        using (var plain = MoeEngine.Load(fixture.Model.Options(o => o with { Routing = RoutingMethod.TopK })))
        {
            var q = new float[fixture.Model.Config.Experts];
            trained.CopyRoutingBias(1, q);
            Assert.Equal(fixture.Model.Q[1], q);
            plain.CopyRoutingBias(1, q);
            Assert.All(q, v => Assert.Equal(0f, v));
            online.CopyRoutingBias(0, q);
            Assert.Equal(fixture.Model.Q[0], q);
            using var cache = online.CreateCache();
            online.Forward([new ForwardItem(cache, tokens)], new float[online.VocabSize]);
            online.CopyRoutingBias(0, q);
            Assert.NotEqual(fixture.Model.Q[0], q);
        }

        double topK = MaxVio(RoutingMethod.TopK);
        double bip = MaxVio(RoutingMethod.Bip);
        Assert.True(bip <= topK, $"online BIP {bip} vs top-K {topK}");
        Assert.True(bip < 0.5, $"online BIP MaxVio {bip}");
    }

    [Theory]
    [InlineData(null, false)] // default: fewer tokens than experts -> q kept
    [InlineData(0, true)] // update on every step
    public void Forward_OnlineBipSingleTokenStep_KeepsQUnlessMinTokensIsZero(int? minTokens, bool expectChange)
    {
        using var engine = MoeEngine.Load(fixture.Model.Options(o => o with { Routing = RoutingMethod.Bip, OnlineBipMinTokens = minTokens }));
        using var cache = engine.CreateCache();
        var logits = new float[engine.VocabSize];
        engine.Forward([new ForwardItem(cache, Prompt)], logits); // 16 tokens: at least m, so q updates
        var before = new float[fixture.Model.Config.Experts];
        engine.CopyRoutingBias(0, before);
        var after = new float[before.Length];
        for (int step = 0; step < 3; step++)
        {
            engine.Forward([new ForwardItem(cache, new[] { 20 + step })], logits);
        }

        engine.CopyRoutingBias(0, after);
        Assert.Equal(expectChange, !before.AsSpan().SequenceEqual(after));
    }

    [Fact]
    public void Forward_DecodeSteps_AllocationDoesNotGrowWithContext()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options(o => o with { ExpertWorkers = 1 }));
        using var cache = engine.CreateCache();
        var logits = new float[engine.VocabSize];
        var stats = engine.CreateStatistics();
        var token = new int[1];
        var items = new ForwardItem[1];
        engine.Forward([new ForwardItem(cache, new[] { 1, 2 })], logits, stats);

        long Measure(int steps)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int s = 0; s < steps; s++)
            {
                token[0] = s + 1;
                items[0] = new ForwardItem(cache, token);
                engine.Forward(items, logits, stats);
            }

            return (GC.GetAllocatedBytesForCurrentThread() - before) / steps;
        }

        Measure(4);
        long early = Measure(10);
        long late = Measure(10);

        // Only the small OrtValue wrappers are allocated per Run; nothing scales with the context.
        long runsPerStep = 2 + (fixture.Model.Config.Layers * (1 + fixture.Model.Config.TopK));
        Assert.True(late <= early + 512, $"early {early} B/step, late {late} B/step");
        Assert.True(late < runsPerStep * 2048, $"{late} B/step for {runsPerStep} Runs");
    }
}
