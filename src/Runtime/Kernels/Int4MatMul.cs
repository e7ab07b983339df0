using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeServe.Runtime.Kernels;

/// <summary>
/// y = x W^T for W [N, K] in MatMulNBits' 4-bit layout (blocks of 32 along K, 16 bytes of codes per block
/// with element 2j in the low nibble of byte j and 2j + 1 in the high one, a float scale per block, implicit
/// zero point 8), x quantized to int8 blocks (<see cref="Int8Rows"/>). Each block's product is exact in
/// integers; only the two scales are applied in float, as ONNX Runtime's accuracy_level 4 does. It reads the
/// codes where they are (0.625 bytes a weight with the scales), where MatMulNBits' level-4 kernel keeps a
/// repacked copy of 0.875 bytes a weight and reads that. AVX2 with FMA only (512-bit vectors measured no faster on
/// this AMD EPYC); a scalar loop takes the blocks left over after the last eight.
/// </summary>
internal static class Int4MatMul
{
    public const int BlockBytes = 16;

    /// <summary>Whether the kernel runs on this CPU.</summary>
    public static bool IsAccelerated => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>y [x.Rows, n] = x W^T.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Multiply(Int8Rows x, ReadOnlySpan<byte> codes, ReadOnlySpan<float> scales, int n, Span<float> y)
    {
        if (!IsAccelerated)
        {
            throw new PlatformNotSupportedException("The int4 kernel needs AVX2 and FMA; the loader keeps ONNX Runtime sessions without them.");
        }

        int blocks = x.Blocks;
        if (codes.Length < n * blocks * BlockBytes || scales.Length < n * blocks || y.Length < x.Rows * n)
        {
            throw new ArgumentException("The codes, scales or output are smaller than the shapes say.");
        }

        fixed (byte* w = codes)
        fixed (float* ws = scales)
        fixed (sbyte* xc = x.Codes)
        fixed (float* xs = x.Scales)
        fixed (float* xo = x.ZeroPointOffsets)
        fixed (float* yp = y)
        {
            var all = new Operands(w, ws, xc, xs, xo, blocks);
            int rows = x.Rows;
            // Weight rows in tiles that stay in the L2 cache while every activation row passes over them, two
            // rows at a time (a weight row read once for both), then one: a matrix is read from memory once.
            int tile = Math.Max(1, TileBytes / (blocks * (BlockBytes + sizeof(float))));
            for (int j0 = 0; j0 < n; j0 += tile)
            {
                int j1 = Math.Min(n, j0 + tile);
                int r = 0;
                for (; r + 2 <= rows; r += 2)
                {
                    for (int j = j0; j < j1; j++)
                    {
                        (yp[(r * n) + j], yp[((r + 1) * n) + j]) = Dot2(all.Row(j, r));
                    }
                }

                if (r < rows)
                {
                    for (int j = j0; j < j1; j++)
                    {
                        yp[(r * n) + j] = Dot1(all.Row(j, r));
                    }
                }
            }
        }
    }

    // Bytes of codes and scales per tile of weight rows: well inside a 512 KB or larger L2 cache.
    private const int TileBytes = 96 * 1024;

    // Where weight row j and activation row r start; activation rows follow each other at blocks * 32 codes.
    private readonly unsafe struct Operands(byte* w, float* ws, sbyte* xc, float* xs, float* xo, int blocks)
    {
        public readonly byte* W = w;
        public readonly float* WScales = ws;
        public readonly sbyte* X = xc;
        public readonly float* XScales = xs;
        public readonly float* XOffsets = xo;
        public readonly int Blocks = blocks;

        public Operands Row(int j, int r) =>
            new(W + ((long)j * Blocks * BlockBytes), WScales + ((long)j * Blocks), X + ((long)r * Blocks * Int8Rows.BlockSize), XScales + ((long)r * Blocks), XOffsets + ((long)r * Blocks), Blocks);

        public Operands NextRow => Row(0, 1);
    }

    // One weight row against one activation row: sum over blocks of wScale * (xScale * (codes . x codes) - offset),
    // eight blocks (two groups) an iteration, two accumulators so consecutive FMAs do not wait on each other.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float Dot1(Operands o)
    {
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        var offsets = Vector256<float>.Zero;
        int b = 0;
        for (; b + 8 <= o.Blocks; b += 8)
        {
            var wScales = Avx.LoadVector256(o.WScales + b);
            var scales = wScales * Avx.LoadVector256(o.XScales + b);
            offsets = Fma.MultiplyAdd(wScales, Avx.LoadVector256(o.XOffsets + b), offsets);
            byte* w = o.W + (b * BlockBytes);
            sbyte* x = o.X + (b * Int8Rows.BlockSize);
            acc0 = Fma.MultiplyAdd(PairSums(Pair(w), x, x + 64), Avx2.PermuteVar8x32(scales, Vector256.Create(0, 0, 0, 0, 1, 1, 1, 1)), acc0);
            acc1 = Fma.MultiplyAdd(PairSums(Pair(w + 32), x + 32, x + 96), Avx2.PermuteVar8x32(scales, Vector256.Create(2, 2, 2, 2, 3, 3, 3, 3)), acc1);
            acc0 = Fma.MultiplyAdd(PairSums(Pair(w + 64), x + 128, x + 192), Avx2.PermuteVar8x32(scales, Vector256.Create(4, 4, 4, 4, 5, 5, 5, 5)), acc0);
            acc1 = Fma.MultiplyAdd(PairSums(Pair(w + 96), x + 160, x + 224), Avx2.PermuteVar8x32(scales, Vector256.Create(6, 6, 6, 6, 7, 7, 7, 7)), acc1);
        }

        float sum = Vector256.Sum(acc0 + acc1) - Vector256.Sum(offsets);
        return b == o.Blocks ? sum : sum + DotScalar(o, b);
    }

    // One weight row against two activation rows.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe (float First, float Second) Dot2(Operands o)
    {
        int stride = o.Blocks * Int8Rows.BlockSize;
        Vector256<float> a0 = default, a1 = default, f0 = default, f1 = default;
        int b = 0;
        for (; b + 8 <= o.Blocks; b += 8)
        {
            var wScales = Avx.LoadVector256(o.WScales + b);
            var s0 = wScales * Avx.LoadVector256(o.XScales + b);
            var s1 = wScales * Avx.LoadVector256(o.XScales + o.Blocks + b);
            f0 = Fma.MultiplyAdd(wScales, Avx.LoadVector256(o.XOffsets + b), f0);
            f1 = Fma.MultiplyAdd(wScales, Avx.LoadVector256(o.XOffsets + o.Blocks + b), f1);
            byte* w = o.W + (b * BlockBytes);
            sbyte* x = o.X + (b * Int8Rows.BlockSize);
            (a0, a1) = Pair2(w, x, stride, s0, s1, Vector256.Create(0, 0, 0, 0, 1, 1, 1, 1), a0, a1);
            (a0, a1) = Pair2(w + 32, x + 32, stride, s0, s1, Vector256.Create(2, 2, 2, 2, 3, 3, 3, 3), a0, a1);
            (a0, a1) = Pair2(w + 64, x + 128, stride, s0, s1, Vector256.Create(4, 4, 4, 4, 5, 5, 5, 5), a0, a1);
            (a0, a1) = Pair2(w + 96, x + 160, stride, s0, s1, Vector256.Create(6, 6, 6, 6, 7, 7, 7, 7), a0, a1);
        }

        float first = Vector256.Sum(a0) - Vector256.Sum(f0);
        float second = Vector256.Sum(a1) - Vector256.Sum(f1);
        return b == o.Blocks ? (first, second) : (first + DotScalar(o, b), second + DotScalar(o.NextRow, b));
    }

    // One pair of weight blocks (codes at w; the activations' even codes at x, odd ones 64 further, rows a stride
    // apart) into two rows' accumulators, each with its scales picked by index. Called with constant
    // indices, so the JIT materialises no vector per pair.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe (Vector256<float>, Vector256<float>) Pair2(byte* w, sbyte* x, int stride, Vector256<float> s0, Vector256<float> s1, Vector256<int> index, Vector256<float> a0, Vector256<float> a1)
    {
        var codes = Pair(w);
        return (
            Fma.MultiplyAdd(PairSums(codes, x, x + 64), Avx2.PermuteVar8x32(s0, index), a0),
            Fma.MultiplyAdd(PairSums(codes, x + stride, x + stride + 64), Avx2.PermuteVar8x32(s1, index), a1));
    }

    // Two blocks of codes (32 bytes) -> their low nibbles (even elements of b, then of b + 1) and high nibbles (odd).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe (Vector256<byte> Low, Vector256<byte> High) Pair(byte* codes)
    {
        var packed = Avx.LoadVector256(codes);
        var mask = Vector256.Create((byte)0x0F);
        return (packed & mask, Avx2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & mask);
    }

    // Two blocks' codes x activations as eight float partial sums, four per block (u8 x s8 pairs never saturate
    // int16, nor does the sum of two: 4 x 15 x 127 < 32767).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<float> PairSums((Vector256<byte> Low, Vector256<byte> High) codes, sbyte* even, sbyte* odd)
    {
        var pairs = Avx2.Add(Avx2.MultiplyAddAdjacent(codes.Low, Avx.LoadVector256(even)), Avx2.MultiplyAddAdjacent(codes.High, Avx.LoadVector256(odd)));
        return Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1)));
    }

    // Blocks from 'from' on, one at a time.
    private static unsafe float DotScalar(Operands o, int from)
    {
        float sum = 0;
        for (int b = from; b < o.Blocks; b++)
        {
            sbyte* even = o.X + Int8Rows.EvenCodesAt(o.Blocks, b, out int oddDistance);
            int dot = 0;
            for (int j = 0; j < BlockBytes; j++)
            {
                byte pair = o.W[(b * BlockBytes) + j];
                dot += ((pair & 0x0F) * even[j]) + ((pair >> 4) * even[oddDistance + j]);
            }

            sum += o.WScales[b] * ((o.XScales[b] * dot) - o.XOffsets[b]);
        }

        return sum;
    }
}
