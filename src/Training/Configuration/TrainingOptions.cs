using System.Numerics;

using MoeServe.Router;
using MoeServe.Training.Routing;

namespace MoeServe.Training.Configuration;

/// <summary>Everything a training run needs besides the data. Validate lists every problem at once.</summary>
public sealed record TrainingOptions
{
    /// <summary>The preset name recorded in the summary.</summary>
    public string Preset { get; init; } = "small";

    /// <summary>The balancing method.</summary>
    public BalanceMethod Method { get; init; } = BalanceMethod.Bip;

    /// <summary>Optimizer steps in total (the schedule's length).</summary>
    public int Steps { get; init; } = 1000;

    /// <summary>Sequences per step.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Tokens per sequence (at most the model's context length).</summary>
    public int SequenceLength { get; init; } = 256;

    /// <summary>Peak learning rate (AdamW).</summary>
    public double LearningRate { get; init; } = 1.5e-3;

    /// <summary>Linear warm-up steps; then cosine decay to <see cref="MinLearningRateRatio"/> of the peak.</summary>
    public int WarmupSteps { get; init; } = 100;

    /// <summary>Final learning rate as a fraction of the peak.</summary>
    public double MinLearningRateRatio { get; init; } = 0.1;

    /// <summary>AdamW decoupled weight decay.</summary>
    public double WeightDecay { get; init; } = 0.1;

    /// <summary>Gradient norm clip (0 = off).</summary>
    public double GradientClip { get; init; } = 1.0;

    /// <summary>Seed of weight initialisation and data order.</summary>
    public int Seed { get; init; } = 1234;

    /// <summary>Write a checkpoint every this many steps (0 = only at the end).</summary>
    public int CheckpointEvery { get; init; } = 200;

    /// <summary>Print a progress line every this many steps.</summary>
    public int LogEvery { get; init; } = 10;

    /// <summary>Validation tokens evaluated at the end (0 = the whole validation set).</summary>
    public int ValidationTokens { get; init; } = 131072;

    /// <summary>Torch intra-op threads (0 = leave torch's default).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>alpha of the Loss-Controlled auxiliary loss (used by <see cref="BalanceMethod.Aux"/>).</summary>
    public double AuxAlpha { get; init; } = 0.1;

    /// <summary>BIP options (T, order, clipping).</summary>
    public BipOptions Bip { get; init; } = new();

    /// <summary>Loss-free options (u).</summary>
    public LossFreeOptions LossFree { get; init; } = new();

    /// <summary>Every problem, each naming its flag; empty when valid.</summary>
    /// <param name="contextLength">The model's context length (sequence length may not exceed it).</param>
    public IReadOnlyList<string> Validate(int contextLength)
    {
        var errors = new List<string>();
        AtLeastOne(errors, "--steps", Steps);
        AtLeastOne(errors, "--batch-size", BatchSize);

        if (SequenceLength < 2 || SequenceLength > contextLength)
        {
            errors.Add($"--seq-len must be in 2..{contextLength} (the model's context length), got {SequenceLength}.");
        }

        if (!(LearningRate > 0) || double.IsInfinity(LearningRate))
        {
            errors.Add($"--lr must be a positive number (got {LearningRate}).");
        }

        NonNegative(errors, "--warmup", WarmupSteps);

        if (MinLearningRateRatio is < 0 or > 1)
        {
            errors.Add($"min learning-rate ratio must be in [0, 1] (got {MinLearningRateRatio}).");
        }

        NonNegative(errors, "--weight-decay", WeightDecay);
        NonNegative(errors, "--grad-clip", GradientClip);
        NonNegative(errors, "--checkpoint-every", CheckpointEvery);
        AtLeastOne(errors, "--log-every", LogEvery);
        NonNegative(errors, "--validation-tokens", ValidationTokens);
        NonNegative(errors, "--threads", Threads);
        NonNegative(errors, "--aux-alpha", AuxAlpha);

        errors.AddRange(Bip.Validate().Select(e => "--" + e));
        errors.AddRange(LossFree.Validate().Select(e => "--" + e));
        return errors;
    }

    // The two bounds most flags share, worded alike for every flag.
    private static void AtLeastOne<T>(List<string> errors, string flag, T value)
        where T : INumber<T>
    {
        if (value < T.One)
        {
            errors.Add($"{flag} must be at least 1 (got {value}).");
        }
    }

    private static void NonNegative<T>(List<string> errors, string flag, T value)
        where T : INumber<T>
    {
        if (value < T.Zero)
        {
            errors.Add($"{flag} must be >= 0 (got {value}).");
        }
    }
}
