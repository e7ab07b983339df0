using Microsoft.ML.OnnxRuntime;
using MoeServe.Runtime.Sessions;
using MoeServe.Runtime.Tests.Support;

namespace MoeServe.Runtime.Tests.Engine;

/// <summary>Sessions share ONNX Runtime's global thread pools and one CPU arena (issue 17) without changing a single logit.</summary>
public sealed class SharedSessionResourcesTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private static readonly int[][] Prompts = [[10, 20, 30, 40, 50, 60], [7, 8, 9], [100, 3, 17, 250, 5]];

    [Fact]
    public void Load_Default_EverySessionUsesTheGlobalPoolsAndTheEnvArena()
    {
        var config = fixture.Model.Config;
        using var engine = MoeEngine.Load(fixture.Model.Options());

        var resources = engine.SessionResources;
        Assert.True(resources.SharedThreadPools);
        Assert.True(resources.SharedCpuArena);
        Assert.Equal(1, resources.IntraOpThreads);
        Assert.Equal(2 + (config.Layers * (2 + config.Experts)), resources.Sessions);
        Assert.True(OrtEnv.IsCreated);
    }

    [Fact]
    public void Load_NotShared_ReportsPerSessionThreads()
    {
        // One intra-op thread: the first engine of the test process sizes the global pool for every
        // other test, and a pool of 2 could change the summation order behind exact-equality tests.
        using var engine = MoeEngine.Load(fixture.Model.Options(o => o with { ShareSessionResources = false }));

        var resources = engine.SessionResources;
        Assert.False(resources.SharedThreadPools);
        Assert.False(resources.SharedCpuArena);
        Assert.Equal(1, resources.IntraOpThreads);
        Assert.Equal(2 + (fixture.Model.Config.Layers * (2 + fixture.Model.Config.Experts)), resources.Sessions);
    }

    [Fact]
    public void Forward_SharedAndPerSessionResources_GiveIdenticalLogits()
    {
        // Two workers and MinParallelTokens 1: expert Runs of one step overlap on the shared arena.
        using var shared = MoeEngine.Load(fixture.Model.Options(o => o with { ExpertWorkers = 2, MinParallelTokens = 1 }));
        using var own = MoeEngine.Load(fixture.Model.Options(o => o with { ExpertWorkers = 2, MinParallelTokens = 1, ShareSessionResources = false }));

        Assert.Equal(Decode(own), Decode(shared));
    }

    [Fact]
    public void Load_ManyEnginesAtOnce_AllShareOneEnvironment()
    {
        // Every engine of the process reuses the first env and arena: loading several (hundreds of
        // sessions) must neither fail on re-registration nor change the outputs.
        var engines = new List<MoeEngine>();
        try
        {
            for (int i = 0; i < 4; i++)
            {
                engines.Add(MoeEngine.Load(fixture.Model.Options()));
            }

            Assert.All(engines, e => Assert.True(e.SessionResources.SharedCpuArena));
            float[] first = Decode(engines[0]);
            Assert.All(engines.Skip(1), e => Assert.Equal(first, Decode(e)));
        }
        finally
        {
            foreach (var engine in engines)
            {
                engine.Dispose();
            }
        }
    }

    [Fact]
    public void Load_CudaOptionsPathWithSharedPools_ServesIdenticalLogits()
    {
        // A probe that appends nothing sends every session through the CUDA branch of the factory
        // (global pools, no env allocator: a CUDA session keeps its provider's allocators) while still
        // running on the CPU provider here, so the CUDA path's options are exercised without a GPU.
        using var cpu = MoeEngine.Load(fixture.Model.Options());
        using var cudaPath = MoeEngine.Load(fixture.Model.Options(o => o with { ExecutionProvider = ExecutionProviderKind.Cuda }), null, new AcceptingProbe());

        Assert.Equal(DeviceReport.CudaProvider, Assert.Single(cudaPath.Devices).ProviderUsed);
        Assert.True(cudaPath.SessionResources.SharedThreadPools);
        Assert.Equal(Decode(cpu), Decode(cudaPath));
    }

    private static float[] Decode(MoeEngine engine)
    {
        var caches = Prompts.Select(_ => engine.CreateCache()).ToArray();
        try
        {
            int v = engine.VocabSize;
            var logits = new float[Prompts.Length * v];
            engine.Forward(caches.Select((c, i) => new ForwardItem(c, Prompts[i])).ToArray(), logits);
            for (int step = 0; step < 3; step++)
            {
                engine.Forward(caches.Select((c, i) => new ForwardItem(c, new[] { (i * 31) + step + 1 })).ToArray(), logits);
            }

            return logits;
        }
        finally
        {
            foreach (var cache in caches)
            {
                cache.Dispose();
            }
        }
    }

    private sealed class AcceptingProbe : ICudaProbe
    {
        public void Append(SessionOptions options, int deviceId)
        {
        }
    }
}
