using System.Diagnostics;

using Microsoft.ML.OnnxRuntime;
using MoeServe.Model;
using MoeServe.Runtime;

namespace MoeServe.Cli.Commands;

/// <summary>
/// Measures what one expert Run costs as a function of its token count on this machine and fits
/// t(n) = fixed + perToken * n. The fit bounds what per-expert batching can gain over per-token
/// dispatch: per-token dispatch pays (fixed + perToken) per routed token, batching pays fixed once
/// per expert, so the expert-phase gain can never exceed (fixed + perToken) / perToken.
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
        using var sessionOptions = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
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

        // Least squares over the measured points.
        double meanN = points.Average(p => p.Tokens);
        double meanT = points.Average(p => p.MicrosecondsPerRun);
        double slope = points.Sum(p => (p.Tokens - meanN) * (p.MicrosecondsPerRun - meanT)) / points.Sum(p => (p.Tokens - meanN) * (p.Tokens - meanN));
        double intercept = meanT - (slope * meanN);
        if (intercept < 0)
        {
            // A Run cannot cost less than nothing: noise bent the line; fit through the origin instead.
            intercept = 0;
            slope = points.Sum(p => p.Tokens * p.MicrosecondsPerRun) / points.Sum(p => (double)p.Tokens * p.Tokens);
        }

        return new BenchExpertCost(
            Path.GetFileName(file),
            points,
            Math.Round(intercept, 2),
            Math.Round(slope, 3),
            slope > 0 ? Math.Round((intercept + slope) / slope, 2) : null);
    }

    /// <summary>
    /// The expert-phase gain the cost model predicts for a step with <paramref name="assignments"/>
    /// routed (token, expert) pairs spread over <paramref name="runs"/> batched Runs.
    /// </summary>
    /// <param name="cost">The fitted cost.</param>
    /// <param name="assignments">Routed pairs per step (tokens x k x layers).</param>
    /// <param name="runs">Batched expert Runs per step.</param>
    /// <returns>The predicted gain, or null when the fit found no per-token cost.</returns>
    public static double? PredictedGain(BenchExpertCost cost, double assignments, double runs)
    {
        if (cost.CeilingGain is null)
        {
            return null; // the fit found no cost per token: no prediction
        }

        double perToken = assignments * (cost.FixedMicroseconds + cost.PerTokenMicroseconds);
        double batched = (runs * cost.FixedMicroseconds) + (assignments * cost.PerTokenMicroseconds);
        return batched > 0 ? Math.Round(perToken / batched, 2) : 0;
    }
}
