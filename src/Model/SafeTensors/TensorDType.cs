namespace MoeServe.Model;

/// <summary>Storage type of tensor elements in a safetensors file or an ONNX initializer.</summary>
public enum TensorDType
{
    /// <summary>IEEE 754 single precision ("F32").</summary>
    Float32,

    /// <summary>IEEE 754 half precision ("F16").</summary>
    Float16,
}

/// <summary>Names and sizes of <see cref="TensorDType"/> values.</summary>
public static class TensorDTypeExtensions
{
    /// <summary>Bytes per element.</summary>
    /// <param name="dtype">The element type.</param>
    public static int ElementSize(this TensorDType dtype) => Facts(dtype).Size;

    /// <summary>The safetensors header name ("F32", "F16").</summary>
    /// <param name="dtype">The element type.</param>
    public static string SafeTensorsName(this TensorDType dtype) => Facts(dtype).SafeTensorsName;

    /// <summary>The lower-case name used on the command line and in manifests ("float32", "float16").</summary>
    /// <param name="dtype">The element type.</param>
    public static string DisplayName(this TensorDType dtype) => Facts(dtype).DisplayName;

    /// <summary>Parses "float32"/"f32"/"F32" or "float16"/"f16"/"F16"/"half".</summary>
    /// <param name="text">The text to parse.</param>
    /// <param name="dtype">The parsed type.</param>
    public static bool TryParse(string? text, out TensorDType dtype)
    {
        switch (text?.Trim().ToUpperInvariant())
        {
            case "FLOAT32" or "F32" or "FLOAT" or "SINGLE":
                dtype = TensorDType.Float32;
                return true;
            case "FLOAT16" or "F16" or "HALF":
                dtype = TensorDType.Float16;
                return true;
            default:
                dtype = default;
                return false;
        }
    }

    // One row per element type: its size and names.
    private static (int Size, string SafeTensorsName, string DisplayName) Facts(TensorDType dtype) => dtype switch
    {
        TensorDType.Float32 => (4, "F32", "float32"),
        TensorDType.Float16 => (2, "F16", "float16"),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown tensor dtype."),
    };
}
