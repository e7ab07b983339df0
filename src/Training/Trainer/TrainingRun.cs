using System.Globalization;

using MoeServe.Model;
using MoeServe.Training.Configuration;
using MoeServe.Training.Data;
using MoeServe.Training.Native;

namespace MoeServe.Training.Trainer;

/// <summary>
/// A whole training run into one directory: optional resume, per-step CSV, progress lines,
/// checkpoints (with a validation pass logged to validation.csv), final validation and summary.json.
/// </summary>
public sealed class TrainingRun
{
    /// <summary>Validation log file name.</summary>
    public const string ValidationFileName = "validation.csv";

    private readonly TextWriter _log;
    private readonly TimeProvider _time;

    /// <summary>Creates a runner.</summary>
    /// <param name="log">Where progress goes.</param>
    /// <param name="time">Clock for the time limit.</param>
    public TrainingRun(TextWriter log, TimeProvider? time = null)
    {
        _log = log ?? throw new ArgumentNullException(nameof(log));
        _time = time ?? TimeProvider.System;
    }

    /// <summary>
    /// Trains until <see cref="TrainingOptions.Steps"/>, the time limit, or cancellation; returns the
    /// summary (null when cancelled: the checkpoint is saved and --resume continues).
    /// </summary>
    /// <param name="options">Training options.</param>
    /// <param name="config">The architecture.</param>
    /// <param name="data">Tokenised data.</param>
    /// <param name="outDirectory">The run directory.</param>
    /// <param name="resume">Continue from the checkpoint in <paramref name="outDirectory"/>.</param>
    /// <param name="timeLimit">Stop training (then validate and summarise) after this much wall time; null for none.</param>
    /// <param name="cancellation">Stops at the next step boundary and saves a checkpoint.</param>
    public TrainingSummary? Execute(TrainingOptions options, ModelConfig config, TrainingData data, string outDirectory, bool resume, TimeSpan? timeLimit, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(data);
        Directory.CreateDirectory(outDirectory);
        bool hasCheckpoint = TrainingCheckpoint.Exists(outDirectory);
        if (hasCheckpoint && !resume)
        {
            throw new InvalidOperationException($"{outDirectory} already holds a checkpoint: pass --resume to continue it, or choose another --out.");
        }

        long started = _time.GetTimestamp();
        using var trainer = new MoeTrainer(options, config, data);
        long resumedFrom = 0;
        if (resume && hasCheckpoint)
        {
            TrainingCheckpoint.Restore(trainer, outDirectory);
            resumedFrom = trainer.Step;
            _log.WriteLine($"resumed {outDirectory} at step {resumedFrom}");
        }

        if (timeLimit is { } budget)
        {
            // The learning-rate schedule anneals by the time budget too, so a run cut by the limit still ends at a low rate.
            trainer.BudgetProgress = () => _time.GetElapsedTime(started) / budget;
        }

        _log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"train: preset {options.Preset}, balance {options.Method.ToString().ToLowerInvariant()}, {TrainingPresets.ParameterCount(config) / 1e6:F2}M parameters, batch {options.BatchSize}x{options.SequenceLength}, {options.Steps} steps, {options.Threads} thread(s), allocator {(MallocTuning.Description)}"));
        using var csv = new StepCsvWriter(outDirectory, config.Layers, resumedFrom);
        var progress = new ProgressPrinter(_log, options);
        bool cancelled = false;
        while (trainer.Step < options.Steps)
        {
            if (cancellation.IsCancellationRequested)
            {
                cancelled = true;
                break;
            }

            if (timeLimit is { } limit && _time.GetElapsedTime(started) > limit)
            {
                _log.WriteLine($"time limit {limit} reached at step {trainer.Step}: validating and summarising");
                break;
            }

            var step = trainer.TrainStep();
            csv.Write(step, trainer.Statistics.WallSeconds);
            progress.Report(step, trainer.Statistics);
            if (options.CheckpointEvery > 0 && step.Step % options.CheckpointEvery == 0 && step.Step < options.Steps)
            {
                csv.Flush();
                TrainingCheckpoint.Save(trainer, outDirectory, data.TokenizerDirectory);
                var evaluation = trainer.Evaluate();
                AppendValidation(outDirectory, trainer.Step, evaluation);
                _log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"checkpoint at step {step.Step}: validation perplexity {evaluation.Perplexity:F2}, MaxVio_global {evaluation.MeanMaxVioGlobal:F3}"));
            }
        }

        csv.Flush();
        TrainingCheckpoint.Save(trainer, outDirectory, data.TokenizerDirectory);
        if (cancelled)
        {
            _log.WriteLine($"interrupted at step {trainer.Step}; checkpoint saved, continue with --resume");
            return null;
        }

        var final = trainer.Evaluate();
        AppendValidation(outDirectory, trainer.Step, final);
        var stats = trainer.Statistics;
        var summary = new TrainingSummary
        {
            Method = options.Method.ToString().ToLowerInvariant(),
            Preset = options.Preset,
            Steps = trainer.Step,
            Tokens = stats.Tokens,
            Parameters = TrainingPresets.ParameterCount(config),
            FinalTrainLoss = progress.RecentLoss ?? stats.LastLoss,
            ValidationLoss = final.Loss,
            ValidationPerplexity = final.Perplexity,
            ValidationTokens = final.Tokens,
            MaxVioGlobal = final.MeanMaxVioGlobal,
            MaxVioGlobalPerLayer = final.MaxVioGlobal,
            AvgMaxVio = stats.AvgMaxVio,
            SupMaxVio = stats.SupMean,
            AvgMaxVioPerLayer = stats.AvgPerLayer,
            SupMaxVioPerLayer = stats.SupPerLayer,
            WallSeconds = stats.WallSeconds,
            TokensPerSecond = stats.WallSeconds > 0 ? stats.Tokens / stats.WallSeconds : 0,
            BalancingSeconds = stats.BalancingSeconds,
            BalancingShare = stats.WallSeconds > 0 ? stats.BalancingSeconds / stats.WallSeconds : 0,
            Threads = options.Threads,
            Allocator = MallocTuning.Description,
        };
        File.WriteAllText(new CheckpointLayout(outDirectory).SummaryPath, summary.ToJson());
        _log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"done: {summary.Steps} steps, validation perplexity {summary.ValidationPerplexity:F3}, MaxVio_global {summary.MaxVioGlobal:F3}, AvgMaxVio {summary.AvgMaxVio:F3}, SupMaxVio {summary.SupMaxVio:F3}, {summary.WallSeconds:F0} s, {summary.TokensPerSecond:F0} tokens/s, balancing {summary.BalancingShare:P2} of step time"));
        return summary;
    }

    private static void AppendValidation(string directory, long step, EvaluationResult evaluation)
    {
        string path = Path.Combine(directory, ValidationFileName);
        if (!File.Exists(path))
        {
            File.WriteAllText(path, "step,loss,perplexity,maxvio_global,tokens\n");
        }

        File.AppendAllText(path, string.Create(CultureInfo.InvariantCulture,
            $"{step},{evaluation.Loss:R},{evaluation.Perplexity:F4},{evaluation.MeanMaxVioGlobal:F5},{evaluation.Tokens}\n"));
    }
}
