namespace MoeServe.Training.Trainer;

/// <summary>What one optimizer step measured.</summary>
/// <param name="Step">The step number (1-based: steps completed after this one).</param>
/// <param name="Loss">Cross-entropy of the batch (without the auxiliary loss).</param>
/// <param name="AuxLoss">The auxiliary loss (0 unless the method is aux).</param>
/// <param name="LearningRate">The learning rate used.</param>
/// <param name="MaxVio">MaxVio_batch per layer.</param>
/// <param name="Tokens">Tokens in the batch.</param>
/// <param name="Seconds">Wall time of the step.</param>
/// <param name="BalancingSeconds">Time inside the router calls during the step.</param>
public sealed record StepResult(long Step, double Loss, double AuxLoss, double LearningRate, IReadOnlyList<double> MaxVio, int Tokens, double Seconds, double BalancingSeconds)
{
    /// <summary>MaxVio_batch averaged over layers.</summary>
    public double MeanMaxVio => MaxVio.Count == 0 ? 0 : MaxVio.Average();
}

/// <summary>Validation results.</summary>
/// <param name="Loss">Mean cross-entropy per predicted token.</param>
/// <param name="Tokens">Tokens evaluated.</param>
/// <param name="MaxVioGlobal">MaxVio over the whole evaluated set, per layer.</param>
public sealed record EvaluationResult(double Loss, long Tokens, IReadOnlyList<double> MaxVioGlobal)
{
    /// <summary>exp(loss).</summary>
    public double Perplexity => Math.Exp(Loss);

    /// <summary>MaxVio_global averaged over layers.</summary>
    public double MeanMaxVioGlobal => MaxVioGlobal.Count == 0 ? 0 : MaxVioGlobal.Average();
}
