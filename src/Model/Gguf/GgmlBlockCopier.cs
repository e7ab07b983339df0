using System.Buffers.Binary;
using MoeServe.Model.Quantization;

namespace MoeServe.Model.Gguf;

/// <summary>
/// Turns ggml Q8_0 and Q4_0 blocks into MatMulNBits blocks without a float round trip. Both formats are
/// 32 elements along the input axis with one float16 scale and a zero point of 2^(bits-1), which is
/// MatMulNBits' implicit one, so only the code bytes are rearranged and the scale widened:
/// Q8_0 (int8 qs) becomes uint8 qs XOR 0x80 (qs + 128); Q4_0's byte j holds elements j (low nibble) and
/// j + 16 (high), MatMulNBits' byte i holds 2i (low) and 2i + 1 (high). Q4_0 also goes to 8 bits exactly
/// (code = nibble - 8 + 128). Every dequantized value equals ggml's own dequantization bit for bit: both
/// compute (code - zero point) * (float)scale in float32.
/// </summary>
public static class GgmlBlockCopier
{
    /// <summary>ggml's block size for Q8_0 and Q4_0, and the only MatMulNBits block size the copy serves.</summary>
    public const int BlockSize = 32;

    /// <summary>Whether <paramref name="type"/> blocks copy losslessly into <paramref name="bits"/>-bit MatMulNBits blocks.</summary>
    /// <param name="type">The GGUF tensor type.</param>
    /// <param name="bits">4 or 8.</param>
    public static bool CanCopy(GgmlType type, int bits) => (type, bits) is (GgmlType.Q8_0, 8) or (GgmlType.Q4_0, 8) or (GgmlType.Q4_0, 4);

    /// <summary>
    /// Copies a row-major [n, k] tensor of <paramref name="type"/> blocks (ggml row r = the weight's output row r,
    /// its k elements contiguous) into a <see cref="BlockQuantizedMatrix"/> of <paramref name="bits"/> bits.
    /// </summary>
    /// <param name="type">Q8_0 or Q4_0.</param>
    /// <param name="source">Exactly the n * k / 32 blocks.</param>
    /// <param name="n">Rows (outputs).</param>
    /// <param name="k">Columns (inputs): a multiple of 32, as ggml requires for these types.</param>
    /// <param name="bits">8, or 4 for Q4_0 only.</param>
    /// <param name="rowOrder">Null, or for each output row the source row it comes from (a row permutation).</param>
    public static BlockQuantizedMatrix Copy(GgmlType type, ReadOnlySpan<byte> source, int n, int k, int bits, IReadOnlyList<int>? rowOrder = null)
    {
        if (!CanCopy(type, bits))
        {
            throw new ArgumentException($"{type} blocks do not copy losslessly into {bits}-bit MatMulNBits blocks.", nameof(type));
        }

        if (n <= 0 || k <= 0 || k % BlockSize != 0)
        {
            throw new ArgumentException($"A {type} matrix needs a whole number of 32-element blocks per row, got {n} x {k}.");
        }

        int blocks = k / BlockSize;
        int sourceBlock = GgmlTypes.BlockBytes(type);
        long expected = (long)n * blocks * sourceBlock;
        if (source.Length != expected)
        {
            throw new ArgumentException($"{n} x {k} of {type} take {expected} bytes, not {source.Length}.", nameof(source));
        }

        if (rowOrder is not null && rowOrder.Count != n)
        {
            throw new ArgumentException($"The row order has {rowOrder.Count} entries for {n} rows.", nameof(rowOrder));
        }

        int blob = BlockSize * bits / 8;
        var data = new byte[(long)n * blocks * blob];
        var scales = new float[n * blocks];
        for (int row = 0; row < n; row++)
        {
            int from = rowOrder?[row] ?? row;
            for (int b = 0; b < blocks; b++)
            {
                var block = source.Slice((int)((((long)from * blocks) + b) * sourceBlock), sourceBlock);
                int index = (row * blocks) + b;
                scales[index] = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(block));
                var codes = data.AsSpan(index * blob, blob);
                var qs = block[2..];
                if (type == GgmlType.Q8_0)
                {
                    for (int i = 0; i < BlockSize; i++)
                    {
                        codes[i] = (byte)(qs[i] ^ 0x80);
                    }
                }
                else if (bits == 4)
                {
                    // Elements 2i and 2i + 1 sit in bytes (2i) % 16 and (2i + 1) % 16 of Q4_0, high nibble from 16 on.
                    for (int i = 0; i < 16; i++)
                    {
                        codes[i] = (byte)(Nibble(qs, 2 * i) | (Nibble(qs, (2 * i) + 1) << 4));
                    }
                }
                else
                {
                    for (int i = 0; i < BlockSize; i++)
                    {
                        codes[i] = (byte)(Nibble(qs, i) - 8 + 128);
                    }
                }
            }
        }

        return new BlockQuantizedMatrix(n, k, bits, BlockSize, data, scales, ZeroPoints: null);
    }

    // Q4_0 element e of a block: byte e % 16, low nibble below 16, high nibble from 16.
    private static int Nibble(ReadOnlySpan<byte> qs, int element) =>
        element < 16 ? qs[element] & 0x0F : qs[element - 16] >> 4;
}
