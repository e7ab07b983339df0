using System.Diagnostics;

using Microsoft.ML.OnnxRuntime;
using MoeServe.Model;
using MoeServe.Runtime;

namespace MoeServe.Cli.Commands;

/// <summary>
/// Measures what one expert Run costs as a function of its token count on this machine: t(n) for
/// n = 1..32. That bounds what per-expert batching can gain over per-token dispatch: per-token
/// dispatch pays t(1) per routed token, a large batched Run pays the marginal cost per token (the
/// slope of t at the largest counts), so the expert-phase gain can never exceed t(1) / marginal.
/// </summary>
internal static class ExpertCostProbe
{
    private static readonly int[] TokenCounts = [1, 2, 4, 8, 16, 32];

    /// <summary>Times layer 0's expert 0 of the engine's model in a single-threaded CPU session like the runtime's.</summary>
    /// <param name="engine">A loaded engine (its manifest names the expert graph).</param>
    public static BenchExpertCost Measure(MoeEngine engine)
    {
        string file = Path.Combine(engine.ModelDirectory, engine.Manifest.Graphs.Layers[0].Experts[0]);
        int d = engine.Config.DModel;
        using var sessionOptions = BenchRunner.SingleThreadedCpuOptions();
        using var session = new InferenceSession(file, sessionOptions);
        using var runOptions = new RunOptions();
        string[] inNames = [GraphNames.ExpertInput];
        string[] outNames = [GraphNames.ExpertOutput];
        var input = new float[TokenCounts[^1] * d];
        for (int i = 0; i < input.Length; i++)
        {
            input[i] = MathF.Sin(i) * 0.5f;
        }

        var output = new float[input.Length];
        var points = new List<BenchExpertCostPoint>();
        foreach (int n in TokenCounts)
        {
            using var x = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, input.AsMemory(0, n * d), [n, d]);
            using var y = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, output.AsMemory(0, n * d), [n, d]);
            OrtValue[] ins = [x];
            OrtValue[] outs = [y];
            for (int i = 0; i < 20; i++)
            {
                session.Run(runOptions, inNames, ins, outNames, outs);
            }

            // The median of short batches: robust against other processes taking the core for a while.
            var batches = new double[15];
            const int runsPerBatch = 40;
            for (int b = 0; b < batches.Length; b++)
            {
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < runsPerBatch; i++)
                {
                    session.Run(runOptions, inNames, ins, outNames, outs);
                }

                batches[b] = Stopwatch.GetElapsedTime(start).TotalMicroseconds / runsPerBatch;
            }

            Array.Sort(batches);
            points.Add(new BenchExpertCostPoint(n, Math.Round(batches[batches.Length / 2], 2)));
        }

        // The cost of one more token once the Run is large: the slope between the two largest counts.
        var last = points[^1];
        var before = points[^2];
        double marginal = (last.MicrosecondsPerRun - before.MicrosecondsPerRun) / (last.Tokens - before.Tokens);
        double single = points[0].MicrosecondsPerRun;
        return new BenchExpertCost(
            Path.GetFileName(file),
            points,
            single,
            Math.Round(marginal, 3),
            marginal > 0 ? Math.Round(single / marginal, 2) : null);
    }

    /// <summary>
    /// The expert-phase gain the measured costs predict for a step with <paramref name="assignments"/>
    /// routed (token, expert) pairs spread over <paramref name="runs"/> batched Runs: per-token
    /// dispatch pays a one-token Run per assignment, batching pays <paramref name="runs"/> Runs of the
    /// mean size (interpolated between the measured counts, extrapolated with the marginal cost).
    /// </summary>
    /// <param name="cost">The measured costs.</param>
    /// <param name="assignments">Routed pairs per step (tokens x k x layers).</param>
    /// <param name="runs">Batched expert Runs per step.</param>
    /// <returns>The predicted gain, or null when no marginal cost per token was measured.</returns>
    public static double? PredictedGain(BenchExpertCost cost, double assignments, double runs)
    {
        if (cost.CeilingGain is null || runs <= 0)
        {
            return null;
        }

        double perToken = assignments * cost.SingleTokenMicroseconds;
        double batched = runs * RunMicroseconds(cost, assignments / runs);
        return Math.Round(perToken / batched, 2);
    }

    internal static double RunMicroseconds(BenchExpertCost cost, double tokens)
    {
        var points = cost.Points;
        for (int i = 1; i < points.Count; i++)
        {
            if (tokens <= points[i].Tokens)
            {
                var (a, b) = (points[i - 1], points[i]);
                double t = Math.Max(0, (tokens - a.Tokens) / (b.Tokens - a.Tokens));
                return a.MicrosecondsPerRun + (t * (b.MicrosecondsPerRun - a.MicrosecondsPerRun));
            }
        }

        return points[^1].MicrosecondsPerRun + ((tokens - points[^1].Tokens) * cost.MarginalMicrosecondsPerToken);
    }
}
