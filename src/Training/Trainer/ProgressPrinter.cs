using System.Globalization;

using MoeServe.Training.Configuration;

namespace MoeServe.Training.Trainer;

/// <summary>Prints a progress line every LogEvery steps: bar, loss, tokens/s, MaxVio, lr, ETA.</summary>
internal sealed class ProgressPrinter
{
    private readonly TextWriter _log;
    private readonly TrainingOptions _options;
    private double _loss;
    private double _maxVio;
    private double _seconds;
    private long _tokens;
    private int _count;

    public ProgressPrinter(TextWriter log, TrainingOptions options)
    {
        _log = log;
        _options = options;
    }

    /// <summary>Mean loss of the last printed window.</summary>
    public double? RecentLoss { get; private set; }

    public void Report(StepResult step, BalanceStatistics totals)
    {
        _loss += step.Loss;
        _maxVio += step.MeanMaxVio;
        _seconds += step.Seconds;
        _tokens += step.Tokens;
        _count++;
        if (step.Step % _options.LogEvery != 0 && step.Step != _options.Steps)
        {
            return;
        }

        double rate = _tokens / Math.Max(_seconds, 1e-9);
        double eta = (_options.Steps - step.Step) * (_seconds / _count);
        int filled = (int)(20.0 * step.Step / _options.Steps);
        RecentLoss = _loss / _count;
        _log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[{new string('#', filled)}{new string('.', 20 - filled)}] step {step.Step}/{_options.Steps} loss {RecentLoss:F4} tok/s {rate:F0} MaxVio {_maxVio / _count:F3} lr {step.LearningRate:G3} balancing {totals.BalancingSeconds / Math.Max(totals.WallSeconds, 1e-9):P1} eta {TimeSpan.FromSeconds(eta):hh\\:mm\\:ss}"));
        _log.Flush();
        _loss = _maxVio = _seconds = 0;
        _tokens = 0;
        _count = 0;
    }
}
