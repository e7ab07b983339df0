using MoeServe.Runtime.Experts;
using MoeServe.Runtime.Tests.Support;

namespace MoeServe.Runtime.Tests.Engine;

public sealed class ExpertResilienceTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private static readonly int[] Prompt = [5, 6, 7, 8, 9, 10, 11, 12];

    [Fact]
    public void Forward_ExpertRunFails_ReRunsOnCpuAndStepIsNotLost()
    {
        var model = fixture.Model;
        var expected = Run(MoeEngine.Load(model.Options()), out _, out _);
        var faults = new FailingExperts(failEvery: true);
        var actual = Run(MoeEngine.Load(model.Options(o => o with { FaultInjector = faults })), out long fallbacks, out int stepFallbacks);

        Assert.Equal(expected, actual);
        Assert.True(faults.Calls > 0);
        Assert.True(fallbacks > 0);
        Assert.True(stepFallbacks > 0);
    }

    [Fact]
    public void Forward_DeviceKeepsFailing_BreakerOpensThenSkipsDeviceUntilBreakEnds()
    {
        var time = new ManualTimeProvider();
        var faults = new FailingExperts(failEvery: true);
        using var engine = MoeEngine.Load(fixture.Model.Options(o => o with
        {
            FaultInjector = faults,
            TimeProvider = time,
            Resilience = new ExpertResilienceOptions { MinimumThroughput = 2, FailureRatio = 0.5, BreakDuration = TimeSpan.FromSeconds(30) },
        }));
        using var cache = engine.CreateCache();
        var logits = new float[engine.VocabSize];
        engine.Forward([new ForwardItem(cache, Prompt)], logits);
        int callsWhenOpen = faults.Calls;
        Assert.InRange(callsWhenOpen, 2, 3);

        // Breaker open: the device is not tried, every Run goes straight to CPU and still succeeds.
        long before = engine.CpuFallbackRuns;
        engine.Forward([new ForwardItem(cache, new[] { 1 })], logits);
        Assert.Equal(callsWhenOpen, faults.Calls);
        Assert.True(engine.CpuFallbackRuns > before);

        // After the break the device is probed again (half-open).
        time.Advance(TimeSpan.FromSeconds(31));
        faults.Fail = false;
        engine.Forward([new ForwardItem(cache, new[] { 2 })], logits);
        Assert.True(faults.Calls > callsWhenOpen);
        long afterRecovery = engine.CpuFallbackRuns;
        engine.Forward([new ForwardItem(cache, new[] { 3 })], logits);
        Assert.Equal(afterRecovery, engine.CpuFallbackRuns);
    }

    [Fact]
    public void Forward_ResilienceDisabled_FailurePropagatesAndCacheIsUnchanged()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options(o => o with
        {
            FaultInjector = new FailingExperts(failEvery: true),
            Resilience = new ExpertResilienceOptions { Enabled = false },
        }));
        using var cache = engine.CreateCache();
        var logits = new float[engine.VocabSize];
        Assert.Throws<InjectedExpertFaultException>(() => engine.Forward([new ForwardItem(cache, Prompt)], logits));
        Assert.Equal(0, cache.Length);
    }

    private static float[] Run(MoeEngine engine, out long fallbacks, out int stepFallbacks)
    {
        using (engine)
        {
            using var cache = engine.CreateCache();
            var stats = engine.CreateStatistics();
            var logits = new float[engine.VocabSize];
            engine.Forward([new ForwardItem(cache, Prompt)], logits, stats);
            engine.Forward([new ForwardItem(cache, new[] { 4 })], logits, stats);
            fallbacks = engine.CpuFallbackRuns;
            stepFallbacks = stats.CpuFallbackRuns;
            return logits;
        }
    }

    private sealed class FailingExperts(bool failEvery) : IExpertFaultInjector
    {
        private int _calls;

        public bool Fail { get; set; } = failEvery;

        public int Calls => Volatile.Read(ref _calls);

        public void BeforeRun(int layer, int expert, int deviceId)
        {
            Interlocked.Increment(ref _calls);
            if (Fail)
            {
                throw new InjectedExpertFaultException($"device {deviceId} failed running layer {layer} expert {expert}");
            }
        }
    }
}
