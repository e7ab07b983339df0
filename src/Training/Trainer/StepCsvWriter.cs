using System.Globalization;
using System.Text;

namespace MoeServe.Training.Trainer;

/// <summary>
/// steps.csv: one row per step (step, loss, aux_loss, lr, tokens_per_s, wall_s, balancing_ms,
/// maxvio_mean, maxvio_l0..). On resume, rows after the checkpoint's step are dropped so the file
/// continues exactly where the checkpoint left off.
/// </summary>
public sealed class StepCsvWriter : IDisposable
{
    /// <summary>The file name inside a run directory.</summary>
    public const string FileName = "steps.csv";

    private readonly StreamWriter _writer;

    /// <summary>Opens (or continues) the CSV in <paramref name="directory"/>.</summary>
    /// <param name="directory">The run directory.</param>
    /// <param name="layers">Number of MoE layers.</param>
    /// <param name="resumeAfterStep">Keep existing rows up to this step (0 = start a new file).</param>
    public StepCsvWriter(string directory, int layers, long resumeAfterStep)
    {
        string path = Path.Combine(directory, FileName);
        string header = "step,loss,aux_loss,lr,tokens_per_s,wall_s,balancing_ms,maxvio_mean," + string.Join(',', Enumerable.Range(0, layers).Select(l => $"maxvio_l{l}"));
        var kept = new List<string> { header };
        if (resumeAfterStep > 0 && File.Exists(path))
        {
            kept.AddRange(File.ReadLines(path).Skip(1).Where(line =>
            {
                int comma = line.IndexOf(',', StringComparison.Ordinal);
                return comma > 0 && long.TryParse(line.AsSpan(0, comma), NumberStyles.Integer, CultureInfo.InvariantCulture, out long step) && step <= resumeAfterStep;
            }));
        }

        File.WriteAllLines(path, kept, new UTF8Encoding(false));
        _writer = new StreamWriter(path, append: true, new UTF8Encoding(false));
    }

    /// <summary>Appends one row.</summary>
    /// <param name="step">The step.</param>
    /// <param name="wallSeconds">Cumulative training wall seconds after the step.</param>
    public void Write(StepResult step, double wallSeconds)
    {
        ArgumentNullException.ThrowIfNull(step);
        var c = CultureInfo.InvariantCulture;
        var line = new StringBuilder();
        line.Append(step.Step.ToString(c)).Append(',')
            .Append(step.Loss.ToString("R", c)).Append(',')
            .Append(step.AuxLoss.ToString("R", c)).Append(',')
            .Append(step.LearningRate.ToString("G6", c)).Append(',')
            .Append((step.Tokens / step.Seconds).ToString("F1", c)).Append(',')
            .Append(wallSeconds.ToString("F3", c)).Append(',')
            .Append((step.BalancingSeconds * 1000).ToString("F3", c)).Append(',')
            .Append(step.MeanMaxVio.ToString("F5", c));
        foreach (double v in step.MaxVio)
        {
            line.Append(',').Append(v.ToString("F5", c));
        }

        _writer.WriteLine(line.ToString());
    }

    /// <summary>Flushes rows to disk (at checkpoints).</summary>
    public void Flush() => _writer.Flush();

    /// <inheritdoc />
    public void Dispose() => _writer.Dispose();
}
