using MoeServe.Router;

namespace MoeServe.Runtime.Tests.Options;

public sealed class RuntimeOptionsTests
{
    [Fact]
    public void Validate_Defaults_NoErrors()
    {
        Assert.Empty(new RuntimeOptions { ModelPath = "models/x" }.Validate());
    }

    [Fact]
    public void Validate_RoutingNotServed_NamesTheServingNames()
    {
        var errors = new RuntimeOptions { ModelPath = "models/x", Routing = RoutingMethod.LossFree }.Validate();

        Assert.Equal(["routing: 'lossfree' is not one of trained, online-bip, topk."], errors);
    }

    [Fact]
    public void Validate_ManyBadFields_ListsEveryOneByName()
    {
        var options = new RuntimeOptions
        {
            ModelPath = " ",
            Devices = [0, 0, -1],
            ExpertDeviceMap = new Dictionary<int, int> { [-1] = -2 },
            ExpertWorkers = 0,
            IntraOpThreads = -1,
            MinParallelTokens = 0,
            OnlineBipIterations = 0,
            MaxSequences = 0,
            MaxBatchTokens = 0,
            ExecutionProvider = (ExecutionProviderKind)9,
            Routing = (RoutingMethod)9,
            Resilience = new ExpertResilienceOptions { FailureRatio = 2, MinimumThroughput = 1, BreakDuration = TimeSpan.Zero },
        };
        var errors = options.Validate();
        foreach (var name in new[] { "modelPath", "devices: device id", "devices must not repeat", "expertDeviceMap: expert index", "expertDeviceMap: device id", "expertWorkers", "intraOpThreads", "minParallelTokens", "onlineBipIterations", "maxSequences", "maxBatchTokens", "executionProvider", "routing", "resilience.failureRatio", "resilience.minimumThroughput", "resilience.breakDuration" })
        {
            Assert.Contains(errors, e => e.StartsWith(name, StringComparison.Ordinal));
        }

        var ex = Assert.Throws<ArgumentException>(options.EnsureValid);
        Assert.Contains("expertWorkers", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => MoeEngine.Load(options));
    }
}
