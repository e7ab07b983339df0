using System.Globalization;

using MoeServe.Training.Trainer;

namespace MoeServe.Training.Compare;

/// <summary>The per-step series of a run read back from its steps.csv.</summary>
/// <param name="Steps">Step numbers.</param>
/// <param name="Loss">Training loss per step.</param>
/// <param name="MaxVioMean">MaxVio_batch averaged over layers.</param>
/// <param name="MaxVioFirstLayer">MaxVio_batch of layer 0.</param>
/// <param name="BalancingMilliseconds">Router time per step.</param>
/// <param name="TokensPerSecond">Throughput per step.</param>
public sealed record StepSeries(double[] Steps, double[] Loss, double[] MaxVioMean, double[] MaxVioFirstLayer, double[] BalancingMilliseconds, double[] TokensPerSecond)
{
    /// <summary>Reads DIR/steps.csv.</summary>
    /// <param name="runDirectory">The run directory.</param>
    public static StepSeries Read(string runDirectory)
    {
        string path = Path.Combine(runDirectory, StepCsvWriter.FileName);
        var lines = File.ReadAllLines(path);
        var header = lines[0].Split(',');
        int Column(string name) => Array.IndexOf(header, name) is var i and >= 0 ? i : throw new InvalidDataException($"{path} has no column {name}.");
        int step = Column("step"), loss = Column("loss"), mean = Column("maxvio_mean"), first = Column("maxvio_l0"), balancing = Column("balancing_ms"), rate = Column("tokens_per_s");
        var rows = lines.Skip(1).Where(l => l.Length > 0).Select(l => l.Split(',')).ToList();
        double[] Take(int column) => rows.Select(r => double.Parse(r[column], CultureInfo.InvariantCulture)).ToArray();
        return new StepSeries(Take(step), Take(loss), Take(mean), Take(first), Take(balancing), Take(rate));
    }

    /// <summary>Centred-free trailing moving average (window 1 returns a copy).</summary>
    /// <param name="values">The series.</param>
    /// <param name="window">Window length.</param>
    public static double[] MovingAverage(double[] values, int window)
    {
        ArgumentNullException.ThrowIfNull(values);
        window = Math.Max(1, window);
        var result = new double[values.Length];
        double sum = 0;
        for (int i = 0; i < values.Length; i++)
        {
            sum += values[i];
            if (i >= window)
            {
                sum -= values[i - window];
            }

            result[i] = sum / Math.Min(i + 1, window);
        }

        return result;
    }
}
