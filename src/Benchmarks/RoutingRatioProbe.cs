using System.Diagnostics;
using System.Globalization;

using MoeServe.Router;

namespace MoeServe.Benchmarks;

/// <summary>
/// A load-tolerant companion to <see cref="RoutingBenchmarks"/>: the same policies and batch, timed in
/// interleaved rounds with process CPU time instead of wall time, so that other jobs on a shared
/// machine slow every policy alike. Prints the median ns/token and the ratio to plain top-K.
/// Run with <c>dotnet run --project src/Benchmarks -c Release -- ratio [rounds]</c>.
/// </summary>
internal static class RoutingRatioProbe
{
    private const int Tokens = 4096;
    private const int Experts = 64;
    private const int TopK = 8;
    private const int RoutesPerSample = 10;

    public static void Run(int rounds)
    {
        var shape = new RoutingShape(Tokens, Experts, TopK);
        float[] scores = BenchmarkData.SoftmaxScores(Tokens, Experts, seed: 1);
        var experts = new int[shape.AssignmentLength];
        var gates = new float[shape.AssignmentLength];
        var bip4 = new BipBalancer(new float[Experts], new BipOptions { Iterations = 4 });
        for (int i = 0; i < 20; i++)
        {
            bip4.Route(scores, shape, experts, gates);
        }

        (string Name, IRoutingPolicy Policy)[] policies =
        [
            ("PlainTopK", new TopKPolicy()),
            ("BiasedTopK", new BiasedTopKPolicy(bip4.Q)),
            ("BipT1", Warm(new BipBalancer(new float[Experts], new BipOptions { Iterations = 1 }), scores, shape)),
            ("BipT2", Warm(new BipBalancer(new float[Experts], new BipOptions { Iterations = 2 }), scores, shape)),
            ("BipT4", bip4),
            ("BipT1 route-then-update", Warm(new BipBalancer(new float[Experts], new BipOptions { Iterations = 1, Order = BipOrder.RouteThenUpdate }), scores, shape)),
            ("BipT1 exact", Warm(new BipBalancer(new float[Experts], new BipOptions { Iterations = 1, Statistic = OrderStatisticMode.Exact }), scores, shape)),
        ];

        var samples = policies.Select(_ => new List<double>()).ToArray();
        using var process = Process.GetCurrentProcess();
        for (int round = 0; round < rounds; round++)
        {
            for (int p = 0; p < policies.Length; p++)
            {
                process.Refresh();
                TimeSpan start = process.TotalProcessorTime;
                for (int i = 0; i < RoutesPerSample; i++)
                {
                    policies[p].Policy.Route(scores, shape, experts, gates);
                }

                process.Refresh();
                samples[p].Add((process.TotalProcessorTime - start).TotalNanoseconds / RoutesPerSample / Tokens);
            }
        }

        double baseline = ProbeStatistics.Median(samples[0]);
        Console.WriteLine($"{"policy",-26} {"ns/token",9} {"ratio",6}   (median of {rounds} interleaved rounds, CPU time, {Tokens} x {Experts}, k = {TopK})");
        for (int p = 0; p < policies.Length; p++)
        {
            double median = ProbeStatistics.Median(samples[p]);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{policies[p].Name,-26} {median,9:F1} {median / baseline,6:F2}"));
        }
    }

    private static BipBalancer Warm(BipBalancer bip, float[] scores, RoutingShape shape)
    {
        var experts = new int[shape.AssignmentLength];
        var gates = new float[shape.AssignmentLength];
        for (int i = 0; i < 20; i++)
        {
            bip.Route(scores, shape, experts, gates);
        }

        return bip;
    }
}
