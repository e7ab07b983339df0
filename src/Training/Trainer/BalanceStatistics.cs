namespace MoeServe.Training.Trainer;

/// <summary>
/// Running statistics over training steps: per-layer mean and max of MaxVio_batch, the same for the
/// layer-averaged MaxVio_batch, wall time, balancing time, tokens, and a window of recent losses.
/// Restorable from a checkpoint so a resumed run reports the same totals.
/// </summary>
public sealed class BalanceStatistics
{
    /// <summary>Creates empty statistics for deserialisation (arrays come from JSON).</summary>
    [System.Text.Json.Serialization.JsonConstructor]
    public BalanceStatistics()
        : this(0)
    {
    }

    /// <summary>Creates empty statistics.</summary>
    /// <param name="layers">Number of MoE layers.</param>
    public BalanceStatistics(int layers)
    {
        SumPerLayer = new double[layers];
        SupPerLayer = new double[layers];
    }

    /// <summary>Steps recorded.</summary>
    public long Steps { get; set; }

    /// <summary>Sum over steps of MaxVio_batch per layer.</summary>
    public double[] SumPerLayer { get; set; }

    /// <summary>Max over steps of MaxVio_batch per layer.</summary>
    public double[] SupPerLayer { get; set; }

    /// <summary>Sum over steps of the layer-averaged MaxVio_batch.</summary>
    public double SumMean { get; set; }

    /// <summary>Max over steps of the layer-averaged MaxVio_batch.</summary>
    public double SupMean { get; set; }

    /// <summary>Training wall seconds (steps only).</summary>
    public double WallSeconds { get; set; }

    /// <summary>Seconds inside router calls.</summary>
    public double BalancingSeconds { get; set; }

    /// <summary>Training tokens.</summary>
    public long Tokens { get; set; }

    /// <summary>Loss of the most recent step.</summary>
    public double LastLoss { get; set; }

    /// <summary>Mean over steps of the layer-averaged MaxVio_batch.</summary>
    public double AvgMaxVio => Steps == 0 ? 0 : SumMean / Steps;

    /// <summary>Mean over steps per layer.</summary>
    public IReadOnlyList<double> AvgPerLayer => SumPerLayer.Select(s => Steps == 0 ? 0 : s / Steps).ToArray();

    /// <summary>Adds one step.</summary>
    /// <param name="step">The step's result.</param>
    public void Record(StepResult step)
    {
        ArgumentNullException.ThrowIfNull(step);
        Steps++;
        for (int l = 0; l < SumPerLayer.Length; l++)
        {
            SumPerLayer[l] += step.MaxVio[l];
            SupPerLayer[l] = Math.Max(SupPerLayer[l], step.MaxVio[l]);
        }

        SumMean += step.MeanMaxVio;
        SupMean = Math.Max(SupMean, step.MeanMaxVio);
        WallSeconds += step.Seconds;
        BalancingSeconds += step.BalancingSeconds;
        Tokens += step.Tokens;
        LastLoss = step.Loss;
    }
}
