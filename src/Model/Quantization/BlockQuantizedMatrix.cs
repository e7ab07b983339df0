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

    /// <summary>
    /// The matrices' rows one after another (Q/K/V or W1/W3 in one MatMulNBits node). Blocks run along K
    /// per row, so stacking quantized rows equals quantizing the stacked rows. When only some parts carry zero
    /// points, the others get their implicit 2^(Bits-1) written out.
    /// </summary>
    /// <param name="parts">Matrices with the same K, Bits and BlockSize.</param>
    public static BlockQuantizedMatrix StackRows(IReadOnlyList<BlockQuantizedMatrix> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 1)
        {
            return parts[0];
        }

        var first = parts[0];
        if (parts.Any(p => p.K != first.K || p.Bits != first.Bits || p.BlockSize != first.BlockSize))
        {
            throw new ArgumentException("Stacked matrices must share K, Bits and BlockSize.", nameof(parts));
        }

        int n = parts.Sum(p => p.N);
        var data = new byte[parts.Sum(p => p.Data.LongLength)];
        var scales = new float[parts.Sum(p => p.Scales.Length)];
        bool anyZeroPoints = parts.Any(p => p.ZeroPoints is not null);
        byte[]? zeroPoints = anyZeroPoints ? new byte[n * first.ZeroPointBytesPerRow] : null;
        byte implicitZeroPoints = first.Bits == 8 ? (byte)0x80 : (byte)0x88; // 2^(bits-1) in every packed slot
        long dataOffset = 0;
        int scaleOffset = 0;
        int zeroOffset = 0;
        foreach (var part in parts)
        {
            part.Data.CopyTo(data, dataOffset);
            part.Scales.CopyTo(scales, scaleOffset);
            if (zeroPoints is not null)
            {
                var target = zeroPoints.AsSpan(zeroOffset, part.N * first.ZeroPointBytesPerRow);
                if (part.ZeroPoints is null)
                {
                    target.Fill(implicitZeroPoints);
                }
                else
                {
                    part.ZeroPoints.CopyTo(target);
                }

                zeroOffset += target.Length;
            }

            dataOffset += part.Data.LongLength;
            scaleOffset += part.Scales.Length;
        }

        return new BlockQuantizedMatrix(n, first.K, first.Bits, first.BlockSize, data, scales, zeroPoints);
    }
}
