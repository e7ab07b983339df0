using System.Globalization;

using MoeServe.Router.Tests.Support;

using Xunit.Abstractions;

namespace MoeServe.Router.Tests.Optimality;

/// <summary>
/// Compares the routing of a converged BIP q plus the hard capacity option (feasible by construction)
/// with the exact optimum of the integer program, on small random softmax instances.
/// </summary>
public class OptimalityTests(ITestOutputHelper output)
{
    private const int Instances = 60;

    [Fact]
    public void ConvergedBipWithCapacity_SmallSoftmaxInstances_NearOptimalAndFarBetterThanQZero()
    {
        var shape = new RoutingShape(64, 8, 2);
        int capacity = shape.BalancedCapacity; // n k / m = 16
        var bipGaps = new List<double>();
        var exactGaps = new List<double>();
        var zeroGaps = new List<double>();
        var greedyGaps = new List<double>();
        var excess = new List<double>();
        var exactExcess = new List<double>();
        for (int instance = 0; instance < Instances; instance++)
        {
            float[] s = Workloads.Softmax(shape.Tokens, shape.Experts, seed: 1000 + instance);
            double optimum = IntegerProgramOracle.Optimum(s, shape, capacity);

            bipGaps.Add(Gap(optimum, s, shape, ConvergedQ(s, shape, new BipOptions { Iterations = 64 })));
            exactGaps.Add(Gap(optimum, s, shape, ConvergedQ(s, shape, new BipOptions { Iterations = 64, Statistic = OrderStatisticMode.Exact })));
            zeroGaps.Add(Gap(optimum, s, shape, new float[shape.Experts]));
            greedyGaps.Add((optimum - FirstComeGreedy(s, shape, capacity)) / optimum);
            excess.Add(UncappedExcess(s, shape, ConvergedQ(s, shape, new BipOptions { Iterations = 64 }), capacity));
            exactExcess.Add(UncappedExcess(s, shape, ConvergedQ(s, shape, new BipOptions { Iterations = 64, Statistic = OrderStatisticMode.Exact }), capacity));
        }

        Report("BIP default statistic (quantile), T=64, + capacity", bipGaps);
        Report("BIP exact statistic, T=64, + capacity", exactGaps);
        Report("q = 0 (plain top-K) + capacity", zeroGaps);
        Report("q = 0, first-come greedy capacity (tokens in order take their best experts with room)", greedyGaps);
        Report("uncapped BIP routing (quantile): max load / capacity - 1", excess);
        Report("uncapped BIP routing (exact): max load / capacity - 1", exactExcess);

        Assert.True(Percentile(bipGaps, 0.5) <= 0.01, $"median gap {Percentile(bipGaps, 0.5):P2}");
        Assert.True(Percentile(bipGaps, 0.95) <= 0.025, $"95th percentile gap {Percentile(bipGaps, 0.95):P2}");
        Assert.True(Percentile(exactGaps, 0.5) <= 0.01, $"exact statistic: median gap {Percentile(exactGaps, 0.5):P2}");
        Assert.True(Percentile(exactGaps, 0.95) <= 0.025, $"exact statistic: 95th percentile gap {Percentile(exactGaps, 0.95):P2}");
        Assert.True(Percentile(bipGaps, 0.5) * 5 < Percentile(zeroGaps, 0.5), "BIP must be far better than q = 0");
        Assert.True(Percentile(exactGaps, 0.5) * 5 < Percentile(zeroGaps, 0.5), "BIP (exact) must be far better than q = 0");
        Assert.All(bipGaps, g => Assert.True(g >= -1e-6, $"a feasible routing cannot beat the optimum (gap {g})"));
    }

    [Theory]
    [InlineData(32, 4, 1)]
    [InlineData(48, 6, 3)]
    [InlineData(96, 16, 2)]
    public void ConvergedBipWithCapacity_OtherSizes_WithinTwoAndAHalfPercent(int tokens, int experts, int topK)
    {
        var shape = new RoutingShape(tokens, experts, topK);
        int capacity = shape.BalancedCapacity;
        var gaps = new List<double>();
        for (int instance = 0; instance < 12; instance++)
        {
            float[] s = Workloads.Softmax(tokens, experts, seed: 5000 + instance);
            double optimum = IntegerProgramOracle.Optimum(s, shape, capacity);
            gaps.Add(Gap(optimum, s, shape, ConvergedQ(s, shape, new BipOptions { Iterations = 64 })));
        }

        Report($"n={tokens} m={experts} k={topK}", gaps);
        Assert.True(Percentile(gaps, 0.5) <= 0.025, $"median gap {Percentile(gaps, 0.5):P2}");
    }

    // Many warm BIP batches on the same scores: q converges for this instance.
    private static float[] ConvergedQ(float[] s, RoutingShape shape, BipOptions options)
    {
        var q = new float[shape.Experts];
        var bip = new BipBalancer(q, options);
        var experts = new int[shape.AssignmentLength];
        var gates = new float[shape.AssignmentLength];
        for (int pass = 0; pass < 4; pass++)
        {
            bip.Route(s, shape, experts, gates);
        }

        return q;
    }

    private static double Gap(double optimum, float[] s, RoutingShape shape, float[] q)
    {
        var experts = new int[shape.AssignmentLength];
        new BiasedTopKPolicy(q, renormalize: false, capacityFactor: 1.0).Route(s, shape, experts, new float[experts.Length]);
        double value = 0;
        for (int slot = 0; slot < experts.Length; slot++)
        {
            value += s[(slot / shape.TopK * shape.Experts) + experts[slot]];
        }

        return (optimum - value) / optimum;
    }

    // A simpler capacity rule for comparison: tokens in index order take their best experts that still have room.
    private static double FirstComeGreedy(float[] s, RoutingShape shape, int capacity)
    {
        var loads = new int[shape.Experts];
        double value = 0;
        for (int i = 0; i < shape.Tokens; i++)
        {
            int taken = 0;
            foreach (int j in Enumerable.Range(0, shape.Experts).OrderByDescending(j => s[(i * shape.Experts) + j]))
            {
                if (taken == shape.TopK)
                {
                    break;
                }

                if (loads[j] < capacity)
                {
                    loads[j]++;
                    value += s[(i * shape.Experts) + j];
                    taken++;
                }
            }
        }

        return value;
    }

    private static double UncappedExcess(float[] s, RoutingShape shape, float[] q, int capacity)
    {
        var experts = new int[shape.AssignmentLength];
        new BiasedTopKPolicy(q).Route(s, shape, experts, new float[experts.Length]);
        var loads = new int[shape.Experts];
        LoadStatistics.CountLoads(experts, loads);
        return ((double)loads.Max() / capacity) - 1;
    }

    private void Report(string name, List<double> values)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: min {values.Min():P2}, median {Percentile(values, 0.5):P2}, p95 {Percentile(values, 0.95):P2}, max {values.Max():P2} over {values.Count}"));
    }

    private static double Percentile(List<double> values, double p)
    {
        double[] sorted = [.. values.Order()];
        double h = p * (sorted.Length - 1);
        int lo = (int)Math.Floor(h);
        return lo + 1 < sorted.Length ? sorted[lo] + ((h - lo) * (sorted[lo + 1] - sorted[lo])) : sorted[lo];
    }
}
