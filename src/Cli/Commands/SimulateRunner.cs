using System.Diagnostics;
using MoeServe.Router;

namespace MoeServe.Cli.Commands;

/// <summary>One simulated configuration.</summary>
internal sealed record SimulateConfig(
    SimulateWorkloadKind Workload,
    int Tokens,
    int Experts,
    int TopK,
    int Batches,
    RoutingMethod Method,
    BipOptions Bip,
    LossFreeOptions LossFree,
    double? CapacityFactor,
    int Seed)
{
    /// <summary>A readable label: the policy and, for BIP, its options.</summary>
    public string Label => Method switch
    {
        RoutingMethod.Bip => $"bip T={Bip.Iterations} clip={SimulateNames.Clip(Bip.Clip)} {SimulateNames.Order(Bip.Order)} {(Bip.WarmStart ? "warm" : "cold")}"
            + (Bip.Statistic == OrderStatisticMode.Quantile ? " quantile" : " exact"),
        RoutingMethod.LossFree => $"lossfree u={LossFree.UpdateRate}",
        _ => SimulateNames.Method(Method),
    } + (CapacityFactor is double f ? $" cap={f}" : string.Empty);
}

/// <summary>What one configuration measured.</summary>
internal sealed record SimulateResult(
    SimulateConfig Config,
    double FirstBatchMaxVio,
    double AvgMaxVio,
    double SupMaxVio,
    double LastMaxVio,
    double GlobalMaxVio,
    double ScoreRetention,
    double RouteNsPerToken,
    double? NegativeTokenDualShare,
    double[] MaxVioPerBatch);

/// <summary>Runs the batches of one configuration through a router policy and measures it.</summary>
internal static class SimulateRunner
{
    private const int LastWindow = 10;

    /// <summary>Draws the batches of a configuration's workload (shared by every policy compared on it).</summary>
    public static float[][] Batches(SimulateConfig config)
    {
        var workload = new SimulateWorkload(config.Workload, config.Experts, config.Seed);
        var batches = new float[config.Batches][];
        for (int b = 0; b < batches.Length; b++)
        {
            batches[b] = new float[config.Tokens * config.Experts];
            workload.NextBatch(batches[b]);
        }

        return batches;
    }

    public static SimulateResult Run(SimulateConfig config, IReadOnlyList<float[]> batches)
    {
        var shape = new RoutingShape(config.Tokens, config.Experts, config.TopK);
        var state = new BalancingState(SimulateNames.Method(config.Method), 1, config.Experts);
        var options = new RouterOptions
        {
            Method = config.Method,
            CapacityFactor = config.CapacityFactor,
            Bip = config.Bip,
            LossFree = config.LossFree,
        };
        IRoutingPolicy policy = RoutingPolicyFactory.Create(options, state, 0);
        var experts = new int[shape.AssignmentLength];
        var gates = new float[shape.AssignmentLength];
        var tracker = new MaxVioTracker(config.Experts);
        var series = new double[config.Batches];
        var nsPerToken = new double[config.Batches];
        double retention = 0;

        for (int b = 0; b < config.Batches; b++)
        {
            float[] scores = batches[b];
            long start = Stopwatch.GetTimestamp();
            policy.Route(scores, shape, experts, gates);
            TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
            nsPerToken[b] = elapsed.TotalNanoseconds / config.Tokens;
            series[b] = tracker.RecordBatch(experts);
            retention += LoadStatistics.ScoreRetention(scores, shape, experts);
        }

        int window = Math.Min(LastWindow, config.Batches);
        Array.Sort(nsPerToken);
        return new SimulateResult(
            config,
            FirstBatchMaxVio: series[0],
            AvgMaxVio: tracker.Average,
            SupMaxVio: tracker.Supremum,
            LastMaxVio: series.AsSpan(config.Batches - window).ToArray().Average(),
            GlobalMaxVio: tracker.Global,
            ScoreRetention: retention / config.Batches,
            RouteNsPerToken: nsPerToken[config.Batches / 2],
            NegativeTokenDualShare: (policy as BipBalancer)?.LastNegativeTokenDualShare,
            MaxVioPerBatch: series);
    }
}

/// <summary>The command-line spellings of the router's enums.</summary>
internal static class SimulateNames
{
    public static string Method(RoutingMethod method) => method switch
    {
        RoutingMethod.TopK => "topk",
        RoutingMethod.BiasedTopK => "biased-topk",
        RoutingMethod.Bip => "bip",
        RoutingMethod.LossFree => "lossfree",
        _ => method.ToString(),
    };

    public static string Clip(BipClip clip) => clip switch
    {
        BipClip.Both => "both",
        BipClip.Tokens => "tokens",
        BipClip.Experts => "experts",
        BipClip.None => "none",
        _ => clip.ToString(),
    };

    public static string Order(BipOrder order) => order == BipOrder.UpdateThenRoute ? "update-then-route" : "route-then-update";

    public static string Workload(SimulateWorkloadKind kind) => kind == SimulateWorkloadKind.Uniform ? "uniform" : "softmax";
}
