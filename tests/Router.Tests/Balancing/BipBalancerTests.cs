using MoeServe.Router.Tests.Support;

namespace MoeServe.Router.Tests.Balancing;

public class BipBalancerTests
{
    [Fact]
    public void Route_SkewedSoftmax_BalancesBetterThanTopK()
    {
        var shape = new RoutingShape(512, 16, 2);
        var experts = new int[shape.AssignmentLength];
        var gates = new float[shape.AssignmentLength];
        var bip = new BipBalancer(new float[16], new BipOptions { Iterations = 4 });
        double bipVio = 0;
        double topkVio = 0;
        for (int batch = 0; batch < 5; batch++)
        {
            float[] s = Workloads.Softmax(shape.Tokens, shape.Experts, seed: 100 + batch);
            new TopKPolicy().Route(s, shape, experts, gates);
            topkVio = LoadStatistics.MaxViolation(experts, shape);
            bip.Route(s, shape, experts, gates);
            bipVio = LoadStatistics.MaxViolation(experts, shape);
        }

        Assert.True(topkVio > 0.5, $"workload should be imbalanced under top-K, got {topkVio}");
        Assert.True(bipVio < 0.25, $"BIP MaxVio {bipVio}");
    }

    [Fact]
    public void Route_UpdatesTheSharedState()
    {
        var state = new BalancingState("bip", 1, 8);
        IRoutingPolicy policy = RoutingPolicyFactory.Create(new RouterOptions { Method = RoutingMethod.Bip }, state, 0);
        float[] s = Workloads.Softmax(128, 8, seed: 5);

        policy.Route(s, new RoutingShape(128, 8, 2), new int[256], new float[256]);

        Assert.Contains(state.Layer(0), v => v != 0f);
        Assert.False(policy.IsThreadSafe);
    }
}
