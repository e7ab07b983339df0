namespace MoeServe.Model.Quantization;

/// <summary>How the large matrices of a model (experts, Q/K/V, Wo) are stored: float, or blockwise int8/int4 run by MatMulNBits.</summary>
public enum WeightQuantization
{
    /// <summary>Float16 or float32 initializers (the manifest's weightDType) and plain MatMul.</summary>
    Float,

    /// <summary>8-bit blocks, one float scale per block.</summary>
    Int8,

    /// <summary>4-bit blocks, one float scale and a packed 4-bit zero point per block.</summary>
    Int4,
}

/// <summary>Names and bit widths of <see cref="WeightQuantization"/> values.</summary>
public static class WeightQuantizationExtensions
{
    /// <summary>The names the command line and manifest use, in order.</summary>
    public const string Names = "float, int8, int4";

    /// <summary>Bits per weight (0 for float).</summary>
    /// <param name="mode">The mode.</param>
    public static int Bits(this WeightQuantization mode) => mode switch
    {
        WeightQuantization.Float => 0,
        WeightQuantization.Int8 => 8,
        WeightQuantization.Int4 => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown weight quantization."),
    };

    /// <summary>The lower-case name ("float", "int8", "int4").</summary>
    /// <param name="mode">The mode.</param>
    public static string DisplayName(this WeightQuantization mode) => mode switch
    {
        WeightQuantization.Float => "float",
        WeightQuantization.Int8 => "int8",
        WeightQuantization.Int4 => "int4",
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown weight quantization."),
    };

    /// <summary>Parses "float", "int8" or "int4" (case-insensitive).</summary>
    /// <param name="text">The text to parse.</param>
    /// <param name="mode">The parsed mode.</param>
    public static bool TryParse(string? text, out WeightQuantization mode)
    {
        switch (text?.Trim().ToUpperInvariant())
        {
            case "FLOAT":
                mode = WeightQuantization.Float;
                return true;
            case "INT8":
                mode = WeightQuantization.Int8;
                return true;
            case "INT4":
                mode = WeightQuantization.Int4;
                return true;
            default:
                mode = default;
                return false;
        }
    }
}
