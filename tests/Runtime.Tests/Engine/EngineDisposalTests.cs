using MoeServe.Runtime.Experts;
using MoeServe.Runtime.Tests.Support;

namespace MoeServe.Runtime.Tests.Engine;

/// <summary>
/// A host that stops while its loop is mid-step disposes the engine from another thread. The sessions
/// and native buffers of that step must outlive it: freeing them under a running Run corrupted the
/// native heap (a test host died with "free(): invalid pointer" in CI).
/// </summary>
public sealed class EngineDisposalTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public async Task Dispose_DuringAStep_WaitsForTheStep_ThenRefusesTheNext()
    {
        var blocker = new BlockingInjector();
        var engine = MoeEngine.Load(fixture.Model.Options(o => o with { FaultInjector = blocker }));
        var cache = engine.CreateCache();
        var logits = new float[engine.VocabSize];

        var step = Task.Run(() => engine.Forward([new ForwardItem(cache, new[] { 1, 2, 3 })], logits));
        Assert.True(blocker.InsideRun.Wait(TimeSpan.FromSeconds(30)), "the step never reached an expert Run");
        var dispose = Task.Run(engine.Dispose);

        // Dispose must not return while the step it would free is still running.
        await Task.Delay(300);
        Assert.False(dispose.IsCompleted, "Dispose returned while a step was running");
        blocker.Release.Set();

        await step.WaitAsync(TimeSpan.FromSeconds(30));
        await dispose.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(logits, v => Assert.True(float.IsFinite(v)));
        Assert.Throws<ObjectDisposedException>(() => engine.Forward([new ForwardItem(cache, new[] { 4 })], logits));
        cache.Dispose();
    }

    [Fact]
    public void Dispose_WhileAnotherThreadSteps_EveryStepEndsCleanlyOrIsRefused()
    {
        for (int round = 0; round < 20; round++)
        {
            var engine = MoeEngine.Load(fixture.Model.Options());
            int completed = 0;
            Exception? unexpected = null;
            using var started = new ManualResetEventSlim();
            var loop = new Thread(() =>
            {
                var logits = new float[engine.VocabSize];
                try
                {
                    while (true)
                    {
                        using var cache = engine.CreateCache();
                        engine.Forward([new ForwardItem(cache, new[] { 1, 2, 3, 4 })], logits);
                        completed++;
                        started.Set();
                    }
                }
                catch (ObjectDisposedException)
                {
                    // The engine is gone: the expected end of the loop.
                }
                catch (Exception e)
                {
                    unexpected = e;
                }
            });
            loop.Start();
            Assert.True(started.Wait(TimeSpan.FromSeconds(30)));
            Thread.Sleep(round % 5);
            engine.Dispose();
            Assert.True(loop.Join(TimeSpan.FromSeconds(30)));
            Assert.Null(unexpected);
            Assert.True(completed > 0);
        }
    }

    private sealed class BlockingInjector : IExpertFaultInjector
    {
        private int _blocked;

        public ManualResetEventSlim InsideRun { get; } = new();

        public ManualResetEventSlim Release { get; } = new();

        public void BeforeRun(int layer, int expert, int deviceId)
        {
            // Only the first Run waits; the warm-up of loading does not run experts through here.
            if (Interlocked.Exchange(ref _blocked, 1) == 0)
            {
                InsideRun.Set();
                Release.Wait(TimeSpan.FromSeconds(60));
            }
        }
    }
}
