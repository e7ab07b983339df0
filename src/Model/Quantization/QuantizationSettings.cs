namespace MoeServe.Model.Quantization;

/// <summary>How the expert and attention matrices are quantized and how ONNX Runtime multiplies them.</summary>
public sealed record QuantizationSettings
{
    /// <summary>Default elements per block: 32, the block of GGUF's Q8_0/Q4_0.</summary>
    public const int DefaultBlockSize = 32;

    /// <summary>
    /// Default MatMulNBits accuracy_level: 4 (activations quantized to int8 per block, int32 accumulation);
    /// chosen by measurement against 1 (float32 compute on dequantized weights), see docs/benchmarks.md.
    /// </summary>
    public const int DefaultAccuracyLevel = 4;

    /// <summary>int8 or int4.</summary>
    public required WeightQuantization Mode { get; init; }

    /// <summary>Elements per block along the input axis.</summary>
    public int BlockSize { get; init; } = DefaultBlockSize;

    /// <summary>Whether each block stores its own zero point (asymmetric) or uses the implicit 2^(bits-1) (symmetric).</summary>
    public bool ZeroPoints { get; init; }

    /// <summary>MatMulNBits' accuracy_level attribute (0-4).</summary>
    public int AccuracyLevel { get; init; } = DefaultAccuracyLevel;

    /// <summary>Bits per weight.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int Bits => Mode.Bits();

    /// <summary>The default settings for <paramref name="mode"/>, or null for float.</summary>
    /// <param name="mode">The weight mode.</param>
    public static QuantizationSettings? For(WeightQuantization mode) => mode switch
    {
        WeightQuantization.Float => null,

        // Zero points only at 4 bits: there they cut the round-trip error of models/default's weights
        // (see docs/benchmarks.md); at 8 bits the error is already far below what perplexity notices.
        WeightQuantization.Int4 => new QuantizationSettings { Mode = mode, ZeroPoints = true },
        _ => new QuantizationSettings { Mode = mode },
    };

    /// <summary>Every problem with these settings; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Mode is not (WeightQuantization.Int8 or WeightQuantization.Int4))
        {
            errors.Add($"quantization mode must be int8 or int4, got {Mode}.");
        }

        if (BlockSize < 16 || (BlockSize & (BlockSize - 1)) != 0)
        {
            errors.Add($"block size must be a power of two, at least 16, got {BlockSize}.");
        }

        if (AccuracyLevel is < 0 or > 4)
        {
            errors.Add($"accuracy level must be 0-4, got {AccuracyLevel}.");
        }

        return errors;
    }

    /// <summary>Quantizes W [n, k] with these settings.</summary>
    /// <param name="weights">The weight, row-major [out, in].</param>
    /// <param name="n">Rows (outputs).</param>
    /// <param name="k">Columns (inputs).</param>
    public BlockQuantizedMatrix Quantize(ReadOnlySpan<float> weights, int n, int k) =>
        BlockwiseQuantizer.Quantize(weights, n, k, Bits, BlockSize, ZeroPoints);
}
