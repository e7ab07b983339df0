using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeServe.Runtime.Kernels;

/// <summary>
/// Rows of activations quantized to int8 in blocks of 32 along K (one scale per block, symmetric), the left
/// operand of <see cref="Int4MatMul"/>. Within each group of 8 elements the codes are stored even elements first
/// (0, 2, 4, 6, 1, 3, 5, 7), which is how a 4-bit weight's low and high nibbles line up with them (see
/// <see cref="Int4Matrix"/>). Block-major: a block's codes, scales and zero-point sums of every row sit together,
/// so the kernel reaches each row of a pass at a constant offset from one pointer per block instead of computing
/// eight row addresses. A worker keeps one instance and refills it for every matrix product; it grows, never
/// shrinks.
/// </summary>
internal sealed class Int8Rows
{
    public const int BlockSize = 32;

    private sbyte[] _codes = [];
    private float[] _scales = [];
    private int[] _zeroPointSums = [];

    public int Rows { get; private set; }

    public int Blocks { get; private set; }

    /// <summary>Codes [Blocks, Rows, 32].</summary>
    public ReadOnlySpan<sbyte> Codes => _codes.AsSpan(0, Rows * Blocks * BlockSize);

    /// <summary>Scale of each block [Blocks, Rows].</summary>
    public ReadOnlySpan<float> Scales => _scales.AsSpan(0, Rows * Blocks);

    /// <summary>
    /// 8 x (sum of the block's codes) per block [Rows, Blocks]: what an implicit zero point of 8 in the weights
    /// takes off a block's integer product (sum (w - 8) x = sum w x - 8 sum x). [Blocks, Rows].
    /// </summary>
    public ReadOnlySpan<int> ZeroPointSums => _zeroPointSums.AsSpan(0, Rows * Blocks);

    // Where element i of a block (0-31) is stored within it.
    private static int Position(int i) => (i & ~7) + ((i & 1) * 4) + ((i & 7) >> 1);

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
            _zeroPointSums = new int[blocks];
        }

        for (int r = 0; r < rows; r++)
        {
            for (int b = 0; b < Blocks; b++)
            {
                var values = x.Slice(((r * Blocks) + b) * BlockSize, BlockSize);
                int at = (b * rows) + r;

                // MaxMagnitude returns the element, sign and all.
                float max = MathF.Abs(TensorPrimitives.MaxMagnitude(values));
                float inverse = max == 0 ? 0 : 127f / max;
                var codes = _codes.AsSpan(at * BlockSize, BlockSize);
                int sum = Avx2.IsSupported ? QuantizeAvx2(values, codes, inverse) : QuantizeScalar(values, codes, inverse);
                _scales[at] = max / 127f;
                _zeroPointSums[at] = 8 * sum;
            }
        }
    }

    private static int QuantizeScalar(ReadOnlySpan<float> values, Span<sbyte> codes, float inverse)
    {
        int sum = 0;
        for (int i = 0; i < BlockSize; i++)
        {
            int code = (int)MathF.Round(values[i] * inverse);
            codes[Position(i)] = (sbyte)code;
            sum += code;
        }

        return sum;
    }

    // The same codes 32 at a time: round to nearest even (the scalar loop's MathF.Round), pack to bytes in order,
    // then each group of 8 even elements first.
    private static int QuantizeAvx2(ReadOnlySpan<float> values, Span<sbyte> codes, float inverse)
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
        var grouped = Avx2.Shuffle(ordered, Vector256.Create((sbyte)0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15, 0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15));
        grouped.StoreUnsafe(ref MemoryMarshal.GetReference(codes));
        return sum;
    }
}
