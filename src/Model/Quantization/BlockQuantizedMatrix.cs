namespace MoeServe.Model.Quantization;

/// <summary>
/// A weight matrix W [N, K] (N outputs, K inputs: a Linear weight as stored, y = x W^T) quantized in
/// blocks of <see cref="BlockSize"/> along K, in exactly the layout of ONNX Runtime's com.microsoft
/// MatMulNBits: <see cref="Data"/> is uint8 [N, BlocksPerRow, BlobSize] with codes packed low bits
/// first, <see cref="Scales"/> is float [N * BlocksPerRow], and <see cref="ZeroPoints"/> (optional) is
/// uint8 [N * ceil(BlocksPerRow * Bits / 8)], packed the same way per row. Element k of row n is
/// (code - zeroPoint) * scale; without zero points the zero point is 2^(Bits-1).
/// </summary>
/// <param name="N">Rows (output features).</param>
/// <param name="K">Columns (input features, the reduction axis).</param>
/// <param name="Bits">4 or 8.</param>
/// <param name="BlockSize">Elements per block (a power of two, at least 16).</param>
/// <param name="Data">Packed codes.</param>
/// <param name="Scales">One scale per block.</param>
/// <param name="ZeroPoints">Packed zero points, or null for the implicit 2^(Bits-1).</param>
public sealed record BlockQuantizedMatrix(int N, int K, int Bits, int BlockSize, byte[] Data, float[] Scales, byte[]? ZeroPoints)
{
    /// <summary>Blocks along K per row: ceil(K / BlockSize) (the last block is zero-padded).</summary>
    public int BlocksPerRow => (K + BlockSize - 1) / BlockSize;

    /// <summary>Bytes per block of codes.</summary>
    public int BlobSize => BlockSize * Bits / 8;

    /// <summary>Bytes of packed zero points per row.</summary>
    public int ZeroPointBytesPerRow => ((BlocksPerRow * Bits) + 7) / 8;

    /// <summary>Bytes the matrix takes (codes, scales and zero points).</summary>
    public long StoredBytes => Data.LongLength + (Scales.LongLength * sizeof(float)) + (ZeroPoints?.LongLength ?? 0);
}
