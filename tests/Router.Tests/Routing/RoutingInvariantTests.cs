using CsCheck;

using MoeServe.Router.Tests.Support;

namespace MoeServe.Router.Tests.Routing;

/// <summary>Property tests: the invariants every policy must keep on any input.</summary>
public class RoutingInvariantTests
{
    private const int Iterations = 400;

    [Fact]
    public void Route_AnyPolicy_EveryTokenGetsKDistinctValidExperts()
    {
        RoutingCase.Any.Sample(c =>
        {
            var (experts, _) = RouteTwice(c);
            for (int i = 0; i < c.Tokens; i++)
            {
                var chosen = experts.AsSpan(i * c.TopK, c.TopK).ToArray();
                Assert.All(chosen, e => Assert.InRange(e, 0, c.Experts - 1));
                Assert.Equal(c.TopK, chosen.Distinct().Count());
            }
        }, iter: Iterations, print: c => c.ToString());
    }

    [Fact]
    public void Route_AnyPolicy_GatesFiniteNonNegativeAndNormalisedWhenAsked()
    {
        RoutingCase.Any.Sample(c =>
        {
            var (experts, gates) = RouteTwice(c);
            float[] s = c.Scores();
            for (int i = 0; i < c.Tokens; i++)
            {
                float sum = 0;
                for (int t = 0; t < c.TopK; t++)
                {
                    float g = gates[(i * c.TopK) + t];
                    Assert.True(float.IsFinite(g) && g >= 0f, $"gate {g}");
                    sum += g;
                    if (!c.Renormalize)
                    {
                        // The gate is the unbiased score s, never s - q.
                        Assert.Equal(s[(i * c.Experts) + experts[(i * c.TopK) + t]], g);
                    }
                }

                if (c.Renormalize)
                {
                    Assert.Equal(1f, sum, 4);
                }
            }
        }, iter: Iterations, print: c => c.ToString());
    }

    [Fact]
    public void Route_WithCapacity_NoExpertAboveCapacityAndNoTokenDropped()
    {
        Gen<RoutingCase> capped = RoutingCase.Any.Select(Gen.OneOf(1.0, 1.1, 1.5), (c, f) => c with { CapacityFactor = f });
        capped.Sample(c =>
        {
            var (experts, _) = RouteTwice(c);
            int capacity = c.Shape.CapacityFor(c.CapacityFactor!.Value);
            var loads = new int[c.Experts];
            LoadStatistics.CountLoads(experts, loads);
            Assert.All(loads, l => Assert.True(l <= capacity, $"load {l} > capacity {capacity}"));
            Assert.Equal(c.Tokens * c.TopK, loads.Sum());
            for (int i = 0; i < c.Tokens; i++)
            {
                Assert.Equal(c.TopK, experts.AsSpan(i * c.TopK, c.TopK).ToArray().Distinct().Count());
            }
        }, iter: Iterations, print: c => c.ToString());
    }

    [Fact]
    public void BiasedTopK_ZeroQ_EqualsPlainTopKExactly()
    {
        RoutingCase.Any.Sample(c =>
        {
            float[] s = c.Scores();
            var plain = (new int[c.Tokens * c.TopK], new float[c.Tokens * c.TopK]);
            var biased = (new int[c.Tokens * c.TopK], new float[c.Tokens * c.TopK]);
            new TopKPolicy(c.Renormalize).Route(s, c.Shape, plain.Item1, plain.Item2);
            new BiasedTopKPolicy(new float[c.Experts], c.Renormalize).Route(s, c.Shape, biased.Item1, biased.Item2);
            Assert.Equal(plain.Item1, biased.Item1);
            Assert.Equal(plain.Item2, biased.Item2);
        }, iter: Iterations, print: c => c.ToString());
    }

    [Fact]
    public void BiasedTopK_AnyQ_ChoosesTopKOfSMinusQ()
    {
        RoutingCase.Any.Sample(c =>
        {
            float[] s = c.Scores();
            float[] q = c.RandomQ();
            var experts = new int[c.Tokens * c.TopK];
            new BiasedTopKPolicy(q, renormalize: false).Route(s, c.Shape, experts, new float[experts.Length]);
            for (int i = 0; i < c.Tokens; i++)
            {
                // Reference: a full stable sort of s - q (descending key, ascending index on ties).
                int[] expected = [.. Enumerable.Range(0, c.Experts)
                    .OrderByDescending(j => s[(i * c.Experts) + j] - q[j])
                    .ThenBy(j => j)
                    .Take(c.TopK)];
                Assert.Equal(expected, experts.AsSpan(i * c.TopK, c.TopK).ToArray());
            }
        }, iter: Iterations, print: c => c.ToString());
    }

    [Fact]
    public void DispatchPlan_AnyRouting_IsAPermutationOfTheDecisions()
    {
        RoutingCase.Any.Sample(c =>
        {
            // A plan is reused across batches: build it once on a bigger batch first.
            var plan = new DispatchPlan();
            var big = new RoutingShape(c.Tokens + 3, c.Experts, c.TopK);
            int[] bigExperts = [.. Enumerable.Range(0, big.AssignmentLength).Select(i => (i % c.TopK + (i / c.TopK)) % c.Experts)];
            plan.Build(bigExperts, new float[big.AssignmentLength], big);
            var (experts, gates) = RouteTwice(c);
            plan.Build(experts, gates, c.Shape);

            Assert.Equal(c.Tokens * c.TopK, plan.Offsets[c.Experts]);
            var fromPlan = new List<(int Token, int Expert, float Gate)>();
            for (int j = 0; j < c.Experts; j++)
            {
                ReadOnlySpan<int> tokens = plan.TokensOf(j);
                ReadOnlySpan<float> g = plan.GatesOf(j);
                Assert.Equal(plan.Counts[j], tokens.Length);
                for (int t = 0; t < tokens.Length; t++)
                {
                    fromPlan.Add((tokens[t], j, g[t]));
                    Assert.True(t == 0 || tokens[t - 1] < tokens[t], "tokens ascending within an expert");
                }
            }

            var fromRouting = new List<(int Token, int Expert, float Gate)>();
            for (int slot = 0; slot < experts.Length; slot++)
            {
                fromRouting.Add((slot / c.TopK, experts[slot], gates[slot]));
            }

            Assert.Equal(fromRouting.Order(), fromPlan.Order());
            for (int e = 0; e < plan.Assignments; e++)
            {
                Assert.Equal(plan.TokenIndices[e], plan.Slots[e] / c.TopK);
            }
        }, iter: Iterations, print: c => c.ToString());
    }

    // Stateful policies are routed twice so that warm state (q != 0) is exercised on the second batch.
    private static (int[] Experts, float[] Gates) RouteTwice(RoutingCase c)
    {
        IRoutingPolicy policy = c.Build();
        var experts = new int[c.Tokens * c.TopK];
        var gates = new float[c.Tokens * c.TopK];
        float[] s = c.Scores();
        policy.Route(s, c.Shape, experts, gates);
        policy.Route(s, c.Shape, experts, gates);
        return (experts, gates);
    }
}
