using MoeServe.Model;

namespace MoeServe.Runtime.Tests.Engine;

/// <summary>
/// Which steps run the expert phase on the calling thread: small experts below MinParallelTokens (a worker
/// hand-off costs more than their Runs), large experts never (their Runs stream megabytes of weights); and
/// how many intra-op threads a load uses when the option is left at 0.
/// </summary>
public sealed class ExpertPhaseThreadingTests
{
    private static ModelConfig Config(int d, int experts, int topK, int expertHidden) => new()
    {
        VocabSize = 512,
        DModel = d,
        Layers = 2,
        Heads = 4,
        Experts = experts,
        TopK = topK,
        ExpertHidden = expertHidden,
        ContextLength = 64,
    };

    [Fact]
    public void SmallExperts_FollowMinParallelTokens()
    {
        var defaultShape = Config(d: 256, experts: 16, topK: 2, expertHidden: 256); // models/default
        Assert.Equal(4, ExpertScale.MinParallelExpertTokens(new RuntimeOptions { ModelPath = "m" }, defaultShape));
        Assert.Equal(9, ExpertScale.MinParallelExpertTokens(new RuntimeOptions { ModelPath = "m", MinParallelTokens = 9 }, defaultShape));
    }

    [Fact]
    public void LargeExperts_AlwaysUseTheWorkers()
    {
        var olmoe = Config(d: 2048, experts: 64, topK: 8, expertHidden: 1024);
        Assert.Equal(1, ExpertScale.MinParallelExpertTokens(new RuntimeOptions { ModelPath = "m", MinParallelTokens = 9 }, olmoe));
    }

    [Fact]
    public void IntraOpThreads_ByTheModelUnlessSet()
    {
        var small = Config(d: 256, experts: 16, topK: 2, expertHidden: 256);
        var olmoe = Config(d: 2048, experts: 64, topK: 8, expertHidden: 1024);
        var auto = new RuntimeOptions { ModelPath = "m" };
        Assert.Equal(0, auto.IntraOpThreads);
        Assert.Equal(1, ExpertScale.IntraOpThreads(auto, small, fewRowKernels: false));
        Assert.Equal(Environment.ProcessorCount, ExpertScale.IntraOpThreads(auto, small, fewRowKernels: true));
        Assert.Equal(Environment.ProcessorCount, ExpertScale.IntraOpThreads(auto, olmoe, fewRowKernels: false));
        Assert.Equal(3, ExpertScale.IntraOpThreads(auto with { IntraOpThreads = 3 }, small, fewRowKernels: true));
        Assert.Equal(1, ExpertScale.IntraOpThreads(auto with { IntraOpThreads = 1 }, olmoe, fewRowKernels: false));
    }
}
