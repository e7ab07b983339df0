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

        BalancingAssert.QBalances(s, new RoutingShape(128, 8, 2), state.Layer(0));
        Assert.False(policy.IsThreadSafe);
    }
}

/// <summary>What a q learned by balancing must do, computed from the scores it was learned on.</summary>
internal static class BalancingAssert
{
    /// <summary>
    /// Routing <paramref name="scores"/> by TopK(s - q) at least halves plain top-K's MaxVio, and q is
    /// largest on the expert top-K overloads most and larger there than on the one it loads least
    /// (balancing raises the price of overloaded experts).
    /// </summary>
    public static void QBalances(float[] scores, RoutingShape shape, float[] q)
    {
        var topK = new int[shape.AssignmentLength];
        new TopKPolicy().Route(scores, shape, topK, new float[topK.Length]);
        var biased = new int[shape.AssignmentLength];
        new BiasedTopKPolicy((float[])q.Clone()).Route(scores, shape, biased, new float[biased.Length]);
        double before = LoadStatistics.MaxViolation(topK, shape);
        double after = LoadStatistics.MaxViolation(biased, shape);

        var loads = new int[shape.Experts];
        foreach (int expert in topK)
        {
            loads[expert]++;
        }

        int most = Array.IndexOf(loads, loads.Max());
        int least = Array.IndexOf(loads, loads.Min());
        Assert.True(before > 0.2, $"the scores should be imbalanced under top-K (MaxVio {before:F3})");
        Assert.True(after <= before / 2, $"MaxVio with q {after:F3}, plain top-K {before:F3}: q must at least halve it");
        Assert.True(q[most] > q[least], $"q of the most loaded expert {most} ({q[most]:F4}, {loads[most]} tokens) must exceed q of the least loaded {least} ({q[least]:F4}, {loads[least]} tokens)");
        Assert.Equal(q.Max(), q[most]);
    }
}

public class BipBalancerBehaviourTests
{
    [Fact]
    public void Route_BatchBelowMinTokens_RoutesWithQAndLeavesItUnchanged()
    {
        // A trained q learned on a large batch, then a decode-sized step of 4 tokens.
        var shape = new RoutingShape(512, 16, 2);
        float[] q = new float[16];
        new BipBalancer(q).Route(Workloads.Softmax(512, 16, seed: 21), shape, new int[1024], new float[1024]);
        float[] trained = (float[])q.Clone();
        Assert.Contains(trained, v => v > 0f);
        float[] small = Workloads.Softmax(4, 16, seed: 22);
        var smallShape = new RoutingShape(4, 16, 2);

        var unguarded = (float[])trained.Clone();
        new BipBalancer(unguarded).Route(small, smallShape, new int[8], new float[8]);
        var guarded = (float[])trained.Clone();
        var experts = new int[8];
        var gates = new float[8];
        new BipBalancer(guarded, new BipOptions { MinTokensPerUpdate = 16 }).Route(small, smallShape, experts, gates);
        var expectedExperts = new int[8];
        var expectedGates = new float[8];
        new BiasedTopKPolicy(trained).Route(small, smallShape, expectedExperts, expectedGates);

        Assert.NotEqual(trained, unguarded); // the problem the option exists for: 4 tokens rewrite q
        Assert.Equal(trained, guarded);
        Assert.Equal(expectedExperts, experts);
        Assert.Equal(expectedGates, gates);
    }

    [Fact]
    public void Route_BatchAtMinTokens_UpdatesQ()
    {
        float[] q = new float[16];
        float[] s = Workloads.Softmax(64, 16, seed: 23);
        new BipBalancer(q, new BipOptions { MinTokensPerUpdate = 64 }).Route(s, new RoutingShape(64, 16, 2), new int[128], new float[128]);

        BalancingAssert.QBalances(s, new RoutingShape(64, 16, 2), q);
    }

    [Fact]
    public void Options_NegativeMinTokens_IsListed()
    {
        var errors = new BipOptions { MinTokensPerUpdate = -1 }.Validate();

        Assert.Contains(errors, e => e.Contains("minTokensPerUpdate", StringComparison.Ordinal));
    }

    [Fact]
    public void Route_SameInputTwiceFromSameState_IsDeterministic()
    {
        float[] s = Workloads.Softmax(200, 16, seed: 9);
        var shape = new RoutingShape(200, 16, 2);
        var a = new int[400];
        var b = new int[400];

        new BipBalancer(new float[16]).Route(s, shape, a, new float[400]);
        new BipBalancer(new float[16]).Route(s, shape, b, new float[400]);

        Assert.Equal(a, b);
    }

    [Fact]
    public void Route_ColdStart_ResetsQEveryBatch()
    {
        float[] s = Workloads.Softmax(256, 8, seed: 4);
        var shape = new RoutingShape(256, 8, 2);
        var coldQ = new float[8];
        var cold = new BipBalancer(coldQ, new BipOptions { WarmStart = false });
        cold.Route(s, shape, new int[512], new float[512]);
        float[] afterOne = [.. coldQ];

        cold.Route(s, shape, new int[512], new float[512]);

        Assert.Equal(afterOne, coldQ);
    }

    [Fact]
    public void Route_ClipExperts_QNeverNegative()
    {
        var q = new float[8];
        var bip = new BipBalancer(q, new BipOptions { Clip = BipClip.Experts });
        float[] last = [];
        for (int batch = 0; batch < 5; batch++)
        {
            last = Workloads.Softmax(256, 8, biasSeed: 7, noiseSeed: batch);
            bip.Route(last, new RoutingShape(256, 8, 2), new int[512], new float[512]);
        }

        Assert.All(q, v => Assert.True(v >= 0f));
        BalancingAssert.QBalances(last, new RoutingShape(256, 8, 2), q);
    }

    [Fact]
    public void Route_EmptyBatch_DoesNothing()
    {
        var q = new float[4];
        new BipBalancer(q).Route([], new RoutingShape(0, 4, 2), [], []);
        Assert.All(q, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Route_DefaultOptionsOnSkewedSoftmax_BalancedAfterWarmUp()
    {
        var shape = new RoutingShape(1024, 16, 2);
        var experts = new int[shape.AssignmentLength];
        var bip = new BipBalancer(new float[16]);
        var tracker = new MaxVioTracker(16);
        for (int batch = 0; batch < 20; batch++)
        {
            bip.Route(Workloads.Softmax(shape.Tokens, shape.Experts, biasSeed: 300, noiseSeed: 400 + batch), shape, experts, new float[experts.Length]);
            if (batch >= 10)
            {
                tracker.RecordBatch(experts);
            }
        }

        var topk = new int[shape.AssignmentLength];
        new TopKPolicy().Route(Workloads.Softmax(shape.Tokens, shape.Experts, biasSeed: 300, noiseSeed: 400), shape, topk, new float[topk.Length]);
        Assert.True(tracker.Average < 0.08, $"BIP AvgMaxVio after warm-up {tracker.Average}");
        Assert.True(LoadStatistics.MaxViolation(topk, shape) > 0.5);
    }

    [Fact]
    public void Route_ConcurrentTopKCallers_AllGetTheSingleThreadedAnswer()
    {
        float[] s = Workloads.Softmax(512, 64, seed: 2);
        var shape = new RoutingShape(512, 64, 8);
        var policy = new TopKPolicy();
        var expected = new int[shape.AssignmentLength];
        policy.Route(s, shape, expected, new float[expected.Length]);

        Parallel.For(0, 16, _ =>
        {
            var mine = new int[shape.AssignmentLength];
            policy.Route(s, shape, mine, new float[mine.Length]);
            Assert.Equal(expected, mine);
        });
    }
}
