using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeServe.Runtime.Kernels;

/// <summary>
/// Rows of activations quantized to int8 in blocks of 32 along K (one scale per block, symmetric), the
/// left operand of <see cref="Int4MatMul"/>. The codes are laid out to line up with 4-bit codes as they are
/// loaded, 64 bytes (four blocks) at a time, without a shuffle: in each group of four blocks, the 16 even
/// elements of each block, then the 16 odd elements of each (a last, shorter group the same way). A worker
/// keeps one instance and refills it for every matrix product; it grows, never shrinks.
/// </summary>
internal sealed class Int8Rows
{
    public const int BlockSize = 32;

    /// <summary>Blocks per group of the layout.</summary>
    public const int GroupBlocks = 4;

    private sbyte[] _codes = [];
    private float[] _scales = [];
    private float[] _offsets = [];

    public int Rows { get; private set; }

    public int Blocks { get; private set; }

    /// <summary>Codes [Rows, Blocks, 32].</summary>
    public ReadOnlySpan<sbyte> Codes => _codes.AsSpan(0, Rows * Blocks * BlockSize);

    /// <summary>Scale of each block [Rows, Blocks].</summary>
    public ReadOnlySpan<float> Scales => _scales.AsSpan(0, Rows * Blocks);

    /// <summary>
    /// scale x (sum of the block's codes) x 8 per block [Rows, Blocks]: what an implicit zero point of 8 in
    /// the weights takes off a row's block products (sum (w - 8) x = sum w x - 8 sum x).
    /// </summary>
    public ReadOnlySpan<float> ZeroPointOffsets => _offsets.AsSpan(0, Rows * Blocks);

    /// <summary>Quantizes <paramref name="rows"/> rows of <paramref name="k"/> values (k a multiple of 32).</summary>
    public void Fill(ReadOnlySpan<float> x, int rows, int k)
    {
        if (k % BlockSize != 0)
        {
            throw new ArgumentException($"K must be a multiple of {BlockSize}.", nameof(k));
        }

        Rows = rows;
        Blocks = k / BlockSize;
        int blocks = rows * Blocks;
        if (_scales.Length < blocks)
        {
            _codes = new sbyte[blocks * BlockSize];
            _scales = new float[blocks];
            _offsets = new float[blocks];
        }

        for (int r = 0; r < rows; r++)
        {
            for (int g = 0; g < Blocks; g += GroupBlocks)
            {
                int first = (r * Blocks) + g;
                int count = Math.Min(GroupBlocks, Blocks - g);
                var codes = _codes.AsSpan(first * BlockSize, count * BlockSize);
                for (int i = 0; i < count; i++)
                {
                    Quantize(x.Slice((first + i) * BlockSize, BlockSize), codes, i * (BlockSize / 2), count * (BlockSize / 2), first + i);
                }
            }
        }
    }

    /// <summary>Where block <paramref name="b"/>'s even codes start in a row of <paramref name="blocks"/> blocks, and how far its odd codes are from them.</summary>
    public static int EvenCodesAt(int blocks, int b, out int oddDistance)
    {
        int group = b - (b % GroupBlocks);
        oddDistance = Math.Min(GroupBlocks, blocks - group) * (BlockSize / 2);
        return (group * BlockSize) + ((b - group) * (BlockSize / 2));
    }

    // One block: element 2i's code goes to codes[start + i], element 2i + 1's to codes[start + half + i].
    private void Quantize(ReadOnlySpan<float> values, Span<sbyte> codes, int start, int half, int block)
    {
        float max = TensorPrimitives.MaxMagnitude(values);
        float inverse = max == 0 ? 0 : 127f / max;
        int sum = Avx2.IsSupported ? QuantizeAvx2(values, codes, start, half, inverse) : QuantizeScalar(values, codes, start, half, inverse);
        float scale = max / 127f;
        _scales[block] = scale;
        _offsets[block] = 8f * scale * sum;
    }

    private static int QuantizeScalar(ReadOnlySpan<float> values, Span<sbyte> codes, int start, int half, float inverse)
    {
        int sum = 0;
        for (int i = 0; i < BlockSize / 2; i++)
        {
            int e = (int)MathF.Round(values[2 * i] * inverse);
            int o = (int)MathF.Round(values[(2 * i) + 1] * inverse);
            codes[start + i] = (sbyte)e;
            codes[start + half + i] = (sbyte)o;
            sum += e + o;
        }

        return sum;
    }

    // The same codes 32 at a time: round to nearest even (the scalar loop's MathF.Round), pack to bytes in order,
    // then even bytes before odd ones.
    private static int QuantizeAvx2(ReadOnlySpan<float> values, Span<sbyte> codes, int start, int half, float inverse)
    {
        ref float v = ref MemoryMarshal.GetReference(values);
        var scale = Vector256.Create(inverse);
        var i0 = Avx.ConvertToVector256Int32(Vector256.LoadUnsafe(ref v) * scale);
        var i1 = Avx.ConvertToVector256Int32(Vector256.LoadUnsafe(ref v, 8) * scale);
        var i2 = Avx.ConvertToVector256Int32(Vector256.LoadUnsafe(ref v, 16) * scale);
        var i3 = Avx.ConvertToVector256Int32(Vector256.LoadUnsafe(ref v, 24) * scale);
        int sum = Vector256.Sum((i0 + i1) + (i2 + i3));

        // Packing works per 128-bit lane: the bytes come out as elements 0-3, 8-11, 16-19, 24-27 | 4-7, 12-15, ...
        var bytes = Avx2.PackSignedSaturate(Avx2.PackSignedSaturate(i0, i1), Avx2.PackSignedSaturate(i2, i3));
        var ordered = Avx2.PermuteVar8x32(bytes.AsInt32(), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsSByte();

        // Per lane: its 8 even bytes, then its 8 odd ones; then the lanes' even halves together, odd halves together.
        var split = Avx2.Shuffle(ordered, Vector256.Create((sbyte)0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15));
        var grouped = Avx2.Permute4x64(split.AsInt64(), 0b11_01_10_00).AsSByte();
        grouped.GetLower().CopyTo(codes.Slice(start, BlockSize / 2));
        grouped.GetUpper().CopyTo(codes.Slice(start + half, BlockSize / 2));
        return sum;
    }
}
