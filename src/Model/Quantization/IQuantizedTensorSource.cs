namespace MoeServe.Model.Quantization;

/// <summary>
/// A tensor source that can hand some weights over already block-quantized (GGUF Q8_0 / Q4_0 blocks), so a
/// quantized build copies them instead of dequantizing and re-quantizing: lossless, and no float copy.
/// </summary>
public interface IQuantizedTensorSource : ITensorSource
{
    /// <summary>
    /// The named Linear weight [out, in] as <paramref name="bits"/>-bit blocks of 32 in MatMulNBits' layout, or
    /// null when it is not stored in blocks that convert exactly (the caller then quantizes <see cref="ITensorSource.Read"/>).
    /// </summary>
    /// <param name="name">A checkpoint tensor name.</param>
    /// <param name="bits">4 or 8.</param>
    BlockQuantizedMatrix? TryReadQuantized(string name, int bits);
}
