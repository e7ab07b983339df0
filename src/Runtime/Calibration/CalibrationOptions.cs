using System.Globalization;
using MoeServe.Router;

namespace MoeServe.Runtime.Calibration;

/// <summary>What <see cref="QCalibrator"/> runs: batch size, BIP iterations, averaging window, token budget.</summary>
public sealed record CalibrationOptions
{
    /// <summary>Default n, tokens per BIP batch.</summary>
    public const int DefaultBatchTokens = 1024;

    /// <summary>n, tokens per calibration batch (one forward step, one BIP update per layer). The windows of a batch are <see cref="SequenceLength"/> tokens long.</summary>
    public int BatchTokens { get; init; } = DefaultBatchTokens;

    /// <summary>T, BIP dual iterations per batch (the router library's default).</summary>
    public int Iterations { get; init; } = BipOptions.DefaultIterations;

    /// <summary>Window length; null = min(context length, <see cref="BatchTokens"/>).</summary>
    public int? SequenceLength { get; init; }

    /// <summary>Tokens to run over (whole batches); 0 = all the text.</summary>
    public long Tokens { get; init; }

    /// <summary>The averaging window of <see cref="QAverage"/>, in batches.</summary>
    public int AverageWindow { get; init; } = QAverage.DefaultWindow;

    /// <summary>
    /// Seed of the order in which windows are drawn; null = in text order. Consecutive windows share a
    /// document, so an in-order batch is one topic and its q fits that topic; drawing windows from the
    /// whole text makes every batch look like the text.
    /// </summary>
    public int? ShuffleSeed { get; init; } = 1;

    /// <summary>Start BIP from the model's current q (true) or from q = 0.</summary>
    public bool StartFromCurrent { get; init; } = true;

    /// <summary>Every problem, each naming its field; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (BatchTokens is < 2 or > 65536)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"batchTokens must be in [2, 65536], got {BatchTokens}."));
        }

        if (Iterations is < 1 or > 64)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"iterations must be in [1, 64], got {Iterations}."));
        }

        if (SequenceLength is int length && length < 1)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"sequenceLength must be >= 1, got {length}."));
        }

        if (Tokens < 0)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"tokens must be >= 0, got {Tokens}."));
        }

        if (AverageWindow < 1)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"averageWindow must be >= 1, got {AverageWindow}."));
        }

        return errors;
    }
}

/// <summary>Progress after each calibration batch.</summary>
/// <param name="Batch">Batches done.</param>
/// <param name="Batches">Batches in the run.</param>
/// <param name="Tokens">Tokens done.</param>
/// <param name="BatchMaxVio">MaxVio_batch of the batch as BIP routed it (mean over layers).</param>
/// <param name="Elapsed">Wall time so far.</param>
public sealed record CalibrationProgress(int Batch, int Batches, long Tokens, double BatchMaxVio, TimeSpan Elapsed);

/// <summary>What a calibration produced.</summary>
/// <param name="Q">The averaged q per layer.</param>
/// <param name="Tokens">Tokens run.</param>
/// <param name="Batches">Batches run.</param>
/// <param name="BatchTokens">Tokens per batch actually used (whole windows).</param>
/// <param name="SequenceLength">Window length used.</param>
/// <param name="MeanBatchMaxVio">Mean over batches of MaxVio_batch as BIP routed them.</param>
/// <param name="Seconds">Wall time.</param>
public sealed record CalibrationResult(IReadOnlyList<float[]> Q, long Tokens, int Batches, int BatchTokens, int SequenceLength, double MeanBatchMaxVio, double Seconds);
