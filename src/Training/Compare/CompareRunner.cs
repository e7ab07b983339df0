using System.Globalization;
using System.Text;

using MoeServe.Model;
using MoeServe.Training.Configuration;
using MoeServe.Training.Data;
using MoeServe.Training.Routing;
using MoeServe.Training.Trainer;

namespace MoeServe.Training.Compare;

/// <summary>
/// Trains every balancing method with the same seed, data order, model and budget into
/// OUT/&lt;method&gt;/, then writes OUT/report.md, OUT/summary.json and PNG plots. A method whose
/// summary.json exists is not retrained; an interrupted one resumes from its checkpoint.
/// </summary>
public sealed class CompareRunner
{
    private readonly TextWriter _log;

    /// <summary>Creates a runner.</summary>
    /// <param name="log">Where progress goes.</param>
    public CompareRunner(TextWriter log) => _log = log ?? throw new ArgumentNullException(nameof(log));

    /// <summary>Runs the methods (those not yet done) and writes the report; null when cancelled.</summary>
    /// <param name="options">Options shared by every method (its Method is replaced per run).</param>
    /// <param name="config">The architecture.</param>
    /// <param name="data">Tokenised data.</param>
    /// <param name="outDirectory">The compare directory.</param>
    /// <param name="methods">Methods to run, in order.</param>
    /// <param name="timeLimitPerMethod">Wall-time guard per method (then it validates and summarises); null for none.</param>
    /// <param name="cancellation">Stops after saving the current run's checkpoint.</param>
    public CompareSummary? Run(TrainingOptions options, ModelConfig config, TrainingData data, string outDirectory, IReadOnlyList<BalanceMethod> methods, TimeSpan? timeLimitPerMethod, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(methods);
        Directory.CreateDirectory(outDirectory);
        foreach (var method in methods)
        {
            string directory = Path.Combine(outDirectory, method.ToName());
            if (File.Exists(new CheckpointLayout(directory).SummaryPath))
            {
                _log.WriteLine($"compare: {method.ToName()} already done ({directory}/summary.json)");
                continue;
            }

            _log.WriteLine($"compare: training {method.ToName()} into {directory}");
            var summary = new TrainingRun(_log).Execute(options with { Method = method }, config, data, directory, resume: true, timeLimitPerMethod, cancellation);
            if (summary is null)
            {
                return null;
            }
        }

        return WriteReport(outDirectory, options.Preset, options.Steps, methods);
    }

    /// <summary>Writes report.md, summary.json and the plots from the method directories that have a summary.</summary>
    /// <param name="outDirectory">The compare directory.</param>
    /// <param name="preset">The preset name.</param>
    /// <param name="steps">Steps per method.</param>
    /// <param name="methods">Methods in report order.</param>
    public static CompareSummary WriteReport(string outDirectory, string preset, long steps, IReadOnlyList<BalanceMethod> methods)
    {
        ArgumentNullException.ThrowIfNull(methods);
        var runs = new List<(string Name, TrainingSummary Summary, StepSeries Series)>();
        foreach (var method in methods)
        {
            string directory = Path.Combine(outDirectory, method.ToName());
            string summaryPath = new CheckpointLayout(directory).SummaryPath;
            if (File.Exists(summaryPath))
            {
                runs.Add((method.ToName(), TrainingSummary.Load(summaryPath), StepSeries.Read(directory)));
            }
        }

        var summary = new CompareSummary
        {
            Preset = preset,
            Steps = steps,
            Methods = runs.ToDictionary(r => r.Name, r => CompareMethodSummary.From(r.Summary)),
        };
        File.WriteAllText(Path.Combine(outDirectory, "summary.json"), summary.ToJson());

        int window = Math.Max(1, (int)(steps / 100));
        ComparePlots.Write(Path.Combine(outDirectory, "maxvio_layer0.png"), $"MaxVio_batch, layer 0 (moving average over {window} steps)", "MaxVio_batch",
            runs.Select(r => (r.Name, r.Series.Steps, StepSeries.MovingAverage(r.Series.MaxVioFirstLayer, window))));
        ComparePlots.Write(Path.Combine(outDirectory, "maxvio_mean.png"), $"MaxVio_batch, mean over layers (moving average over {window} steps)", "MaxVio_batch",
            runs.Select(r => (r.Name, r.Series.Steps, StepSeries.MovingAverage(r.Series.MaxVioMean, window))));
        ComparePlots.Write(Path.Combine(outDirectory, "loss.png"), $"Training loss (moving average over {window} steps)", "cross-entropy",
            runs.Select(r => (r.Name, r.Series.Steps, StepSeries.MovingAverage(r.Series.Loss, window))));
        int early = (int)Math.Min(steps, 200);
        ComparePlots.Write(Path.Combine(outDirectory, "maxvio_first_steps.png"), $"MaxVio_batch, mean over layers, first {early} steps (raw)", "MaxVio_batch",
            runs.Select(r => (r.Name, r.Series.Steps.Take(early).ToArray(), r.Series.MaxVioMean.Take(early).ToArray())));
        File.WriteAllText(Path.Combine(outDirectory, "report.md"), Markdown(preset, steps, runs, window));
        return summary;
    }

    private static string Markdown(string preset, long steps, List<(string Name, TrainingSummary Summary, StepSeries Series)> runs, int window)
    {
        var c = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.Append(c, $"# Balancing compare: preset `{preset}`, {steps} steps per method\n\n");
        if (runs.Count > 0)
        {
            var s0 = runs[0].Summary;
            text.Append(c, $"Same seed, data order and budget for every method. {s0.Parameters / 1e6:F2}M parameters, {s0.Tokens:N0} training tokens per method, {s0.Threads} torch thread(s), allocator {s0.Allocator}. ");
            text.Append(c, $"Validation: {s0.ValidationTokens:N0} held-out tokens, routed with the final balancing state frozen (as served).\n\n");
        }

        text.Append("| method | steps | validation perplexity | AvgMaxVio | SupMaxVio | MaxVio_global | wall time (s) | tokens/s | balancing time (s) | balancing / step time |\n");
        text.Append("|---|---|---|---|---|---|---|---|---|---|\n");
        foreach (var (name, s, _) in runs)
        {
            text.Append(c, $"| {name} | {s.Steps} | {s.ValidationPerplexity:F3} | {s.AvgMaxVio:F4} | {s.SupMaxVio:F4} | {s.MaxVioGlobal:F4} | {s.WallSeconds:F0} | {s.TokensPerSecond:F0} | {s.BalancingSeconds:F2} | {s.BalancingShare:P2} |\n");
        }

        text.Append("\nMaxVio = (max expert load - mean load) / mean load, per layer per batch, averaged over layers; AvgMaxVio / SupMaxVio: mean / max over training steps; ");
        text.Append("MaxVio_global: over the whole validation set. Balancing time: wall time inside the router library's Route calls (for none and aux that is plain top-K selection).\n\n");
        text.Append("Per layer (AvgMaxVio / SupMaxVio / MaxVio_global):\n\n");
        foreach (var (name, s, _) in runs)
        {
            text.Append(c, $"- {name}: ");
            text.Append(string.Join("; ", Enumerable.Range(0, s.AvgMaxVioPerLayer.Count).Select(l =>
                string.Create(c, $"layer {l} {s.AvgMaxVioPerLayer[l]:F3} / {s.SupMaxVioPerLayer[l]:F3} / {s.MaxVioGlobalPerLayer[l]:F3}"))));
            text.Append('\n');
        }

        text.Append(c, $"\n![MaxVio, mean over layers](maxvio_mean.png)\n\n![MaxVio, layer 0](maxvio_layer0.png)\n\n![MaxVio, first steps](maxvio_first_steps.png)\n\n![Loss](loss.png)\n\nCurves are moving averages over {window} steps except the first-steps plot.\n");
        return text.ToString();
    }
}
