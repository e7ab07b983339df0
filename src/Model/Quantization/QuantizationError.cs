namespace MoeServe.Model.Quantization;

/// <summary>The round-trip error of the matrices a build quantized: how far dequantized weights are from the float ones.</summary>
public sealed class QuantizationError
{
    private double _squaredError;
    private double _squares;

    /// <summary>Matrices measured.</summary>
    public int Matrices { get; private set; }

    /// <summary>Weights measured.</summary>
    public long Weights { get; private set; }

    /// <summary>Matrices copied from the source's own blocks (GGUF Q8_0 / Q4_0): no round trip, so no error to measure.</summary>
    public int CopiedMatrices { get; private set; }

    /// <summary>Largest |w - dequantized(w)|.</summary>
    public float MaxAbsError { get; private set; }

    /// <summary>Bytes the quantized matrices take (codes, scales, zero points).</summary>
    public long StoredBytes { get; private set; }

    /// <summary>sqrt(sum (w - deq)^2 / sum w^2): the error relative to the weights' size (0 when nothing measured).</summary>
    public double RelativeRms => _squares == 0 ? 0 : Math.Sqrt(_squaredError / _squares);

    /// <summary>Adds one matrix: its float weights and the quantized form.</summary>
    /// <param name="original">The float weights, [N, K] row-major.</param>
    /// <param name="quantized">The quantized matrix.</param>
    public void Add(ReadOnlySpan<float> original, BlockQuantizedMatrix quantized)
    {
        ArgumentNullException.ThrowIfNull(quantized);
        float[] back = BlockwiseQuantizer.Dequantize(quantized);
        for (int i = 0; i < original.Length; i++)
        {
            double error = original[i] - back[i];
            _squaredError += error * error;
            _squares += (double)original[i] * original[i];
            MaxAbsError = Math.Max(MaxAbsError, (float)Math.Abs(error));
        }

        Matrices++;
        Weights += original.Length;
        StoredBytes += quantized.StoredBytes;
    }

    /// <summary>Counts a matrix copied losslessly from the source's blocks (it adds nothing to the error).</summary>
    /// <param name="copied">The copied matrix.</param>
    public void AddCopied(BlockQuantizedMatrix copied)
    {
        ArgumentNullException.ThrowIfNull(copied);
        CopiedMatrices++;
        Matrices++;
        Weights += (long)copied.N * copied.K;
        StoredBytes += copied.StoredBytes;
    }
}
