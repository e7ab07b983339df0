using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeServe.Runtime.Kernels;

/// <summary>
/// y = x W^T for W in <see cref="Int4Matrix"/>'s panels and x quantized to int8 blocks (<see cref="Int8Rows"/>).
/// Each block's product is exact in integers; only the two scales are applied in float, as ONNX Runtime's
/// MatMulNBits does at accuracy_level 4. A panel's 8 output rows sit side by side in one vector: one multiply-add
/// of a chunk's nibbles against 4 activation codes broadcast to every lane advances all 8 rows (`vpdpbusd` where the
/// CPU has AVX-VNNI, else `vpmaddubsw` into int16: <see cref="IBlockSums"/>), so there is no horizontal sum, and the
/// scales, the zero point and the conversion to float cost one set of instructions per block for 8 outputs. Up to
/// four activation rows (eight with AVX-512's registers) share each chunk's unpacking; a panel (10 KB at K 2048) stays
/// in the L1 cache while every group of rows passes over it, so the matrix is read from memory once. AVX2 with FMA.
/// </summary>
internal static class Int4MatMul
{
    /// <summary>Bytes of codes per block of 32 in a row of the source layout.</summary>
    public const int BlockBytes = 16;

    /// <summary>Output rows per panel: one 256-bit vector of int32 or float.</summary>
    public const int PanelRows = 8;

    /// <summary>Bytes per block in a panel: the 8 rows' codes, then their 8 scales.</summary>
    public const int PanelBlockBytes = (PanelRows * BlockBytes) + (PanelRows * sizeof(float));

    // Eight activation rows a pass need 16 accumulators: the JIT has 32 vector registers on an AVX-512 CPU (used
    // here at 256 bits), 16 on an AVX2 one, where four rows a pass is the most that fits. Measured at eight rows on
    // this AMD EPYC: 16-20% faster than two four-row passes (docs/benchmarks.md).
    private static readonly bool EightRows = Avx512F.IsSupported;

    /// <summary>Whether the kernel runs on this CPU.</summary>
    public static bool IsAccelerated => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>The fastest way this CPU has to sum a block's products.</summary>
    public static Int4Dot BestDot => AvxVnni.IsSupported ? Int4Dot.Vnni : Int4Dot.Madd;

    /// <summary>y [x.Rows, n] for output rows of panels [firstPanel, firstPanel + panelCount).</summary>
    public static void Multiply(Int8Rows x, ReadOnlySpan<byte> panels, int n, Span<float> y, int firstPanel, int panelCount, Int4Dot dot)
    {
        if (!IsAccelerated)
        {
            throw new PlatformNotSupportedException("The int4 kernel needs AVX2 and FMA; the loader keeps ONNX Runtime sessions without them.");
        }

        if (dot == Int4Dot.Vnni)
        {
            if (!AvxVnni.IsSupported)
            {
                throw new PlatformNotSupportedException("This CPU has no AVX-VNNI.");
            }

            Multiply<VnniSums>(x, panels, n, y, firstPanel, panelCount);
        }
        else
        {
            Multiply<MaddSums>(x, panels, n, y, firstPanel, panelCount);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Multiply<T>(Int8Rows x, ReadOnlySpan<byte> panels, int n, Span<float> y, int firstPanel, int panelCount)
        where T : struct, IBlockSums
    {
        int blocks = x.Blocks;
        int panelBytes = blocks * PanelBlockBytes;
        if (panels.Length < (long)(firstPanel + panelCount) * panelBytes || y.Length < x.Rows * n || (firstPanel + panelCount - 1) * PanelRows >= n)
        {
            throw new ArgumentException("The panels or the output are smaller than the shapes say.");
        }

        fixed (byte* w = panels)
        fixed (sbyte* xc = x.Codes)
        fixed (float* xs = x.Scales)
        fixed (int* zp = x.ZeroPointSums)
        fixed (float* yp = y)
        {
            int rows = x.Rows;
            for (int p = firstPanel; p < firstPanel + panelCount; p++)
            {
                byte* panel = w + ((long)p * panelBytes);
                int j = p * PanelRows;
                int width = Math.Min(PanelRows, n - j);
                int r = 0;
                for (; EightRows && r + 8 <= rows; r += 8)
                {
                    Rows8<T>(panel, blocks, new Activations(xc, xs, zp, r, rows), yp + (r * n) + j, n, width);
                }

                for (; r + 4 <= rows; r += 4)
                {
                    Rows4<T>(panel, blocks, new Activations(xc, xs, zp, r, rows), yp + (r * n) + j, n, width);
                }

                if (rows - r >= 2)
                {
                    Rows2<T>(panel, blocks, new Activations(xc, xs, zp, r, rows), yp + (r * n) + j, n, width);
                    r += 2;
                }

                if (r < rows)
                {
                    Rows1<T>(panel, blocks, new Activations(xc, xs, zp, r, rows), yp + (r * n) + j, width);
                }
            }
        }
    }

    // The activation rows of a pass, from row r on, at a block: row r + i's codes at Codes + 32 i, its scale and
    // zero-point sum at Scales[i] and ZeroPoints[i]; the next block CodeStride bytes and Stride entries on.
    private readonly unsafe struct Activations(sbyte* codes, float* scales, int* zeroPoints, int r, int rows)
    {
        public readonly sbyte* Codes = codes + ((long)r * Int8Rows.BlockSize);
        public readonly float* Scales = scales + r;
        public readonly int* ZeroPoints = zeroPoints + r;
        public readonly int CodeStride = rows * Int8Rows.BlockSize;
        public readonly int Stride = rows;
    }

    // Rows8, Rows4 and Rows2 are one loop written out for 8, 4 and 2 rows: each row's sums and float accumulator
    // must be a local of its own for the JIT to keep it in a register (an array of them would live in memory).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Rows8<T>(byte* panel, int blocks, Activations x, float* y, int n, int width)
        where T : struct, IBlockSums
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        sbyte* xb = x.Codes;
        float* sb = x.Scales;
        int* zb = x.ZeroPoints;
        for (int b = 0; b < blocks; b++, panel += PanelBlockBytes, xb += x.CodeStride, sb += x.Stride, zb += x.Stride)
        {
            Prefetch(panel);
            var (lo, hi) = Nibbles(panel);
            Vector256<int> s0 = T.Add(default, lo, hi, xb, 0), s1 = T.Add(default, lo, hi, xb, 32), s2 = T.Add(default, lo, hi, xb, 64), s3 = T.Add(default, lo, hi, xb, 96), s4 = T.Add(default, lo, hi, xb, 128), s5 = T.Add(default, lo, hi, xb, 160), s6 = T.Add(default, lo, hi, xb, 192), s7 = T.Add(default, lo, hi, xb, 224);
            (lo, hi) = Nibbles(panel + 32);
            s0 = T.Add(s0, lo, hi, xb, 8);
            s1 = T.Add(s1, lo, hi, xb, 40);
            s2 = T.Add(s2, lo, hi, xb, 72);
            s3 = T.Add(s3, lo, hi, xb, 104);
            s4 = T.Add(s4, lo, hi, xb, 136);
            s5 = T.Add(s5, lo, hi, xb, 168);
            s6 = T.Add(s6, lo, hi, xb, 200);
            s7 = T.Add(s7, lo, hi, xb, 232);
            (lo, hi) = Nibbles(panel + 64);
            s0 = T.Add(s0, lo, hi, xb, 16);
            s1 = T.Add(s1, lo, hi, xb, 48);
            s2 = T.Add(s2, lo, hi, xb, 80);
            s3 = T.Add(s3, lo, hi, xb, 112);
            s4 = T.Add(s4, lo, hi, xb, 144);
            s5 = T.Add(s5, lo, hi, xb, 176);
            s6 = T.Add(s6, lo, hi, xb, 208);
            s7 = T.Add(s7, lo, hi, xb, 240);
            (lo, hi) = Nibbles(panel + 96);
            s0 = T.Add(s0, lo, hi, xb, 24);
            s1 = T.Add(s1, lo, hi, xb, 56);
            s2 = T.Add(s2, lo, hi, xb, 88);
            s3 = T.Add(s3, lo, hi, xb, 120);
            s4 = T.Add(s4, lo, hi, xb, 152);
            s5 = T.Add(s5, lo, hi, xb, 184);
            s6 = T.Add(s6, lo, hi, xb, 216);
            s7 = T.Add(s7, lo, hi, xb, 248);
            var scales = Avx.LoadVector256((float*)(panel + (PanelRows * BlockBytes)));
            a0 = Scale(T.Total(s0), zb[0], sb[0], scales, a0);
            a1 = Scale(T.Total(s1), zb[1], sb[1], scales, a1);
            a2 = Scale(T.Total(s2), zb[2], sb[2], scales, a2);
            a3 = Scale(T.Total(s3), zb[3], sb[3], scales, a3);
            a4 = Scale(T.Total(s4), zb[4], sb[4], scales, a4);
            a5 = Scale(T.Total(s5), zb[5], sb[5], scales, a5);
            a6 = Scale(T.Total(s6), zb[6], sb[6], scales, a6);
            a7 = Scale(T.Total(s7), zb[7], sb[7], scales, a7);
        }

        Store(a0, y, width);
        Store(a1, y + n, width);
        Store(a2, y + (2 * n), width);
        Store(a3, y + (3 * n), width);
        Store(a4, y + (4 * n), width);
        Store(a5, y + (5 * n), width);
        Store(a6, y + (6 * n), width);
        Store(a7, y + (7 * n), width);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Rows4<T>(byte* panel, int blocks, Activations x, float* y, int n, int width)
        where T : struct, IBlockSums
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        sbyte* xb = x.Codes;
        float* sb = x.Scales;
        int* zb = x.ZeroPoints;
        for (int b = 0; b < blocks; b++, panel += PanelBlockBytes, xb += x.CodeStride, sb += x.Stride, zb += x.Stride)
        {
            Prefetch(panel);
            var (lo, hi) = Nibbles(panel);
            Vector256<int> s0 = T.Add(default, lo, hi, xb, 0), s1 = T.Add(default, lo, hi, xb, 32), s2 = T.Add(default, lo, hi, xb, 64), s3 = T.Add(default, lo, hi, xb, 96);
            (lo, hi) = Nibbles(panel + 32);
            s0 = T.Add(s0, lo, hi, xb, 8);
            s1 = T.Add(s1, lo, hi, xb, 40);
            s2 = T.Add(s2, lo, hi, xb, 72);
            s3 = T.Add(s3, lo, hi, xb, 104);
            (lo, hi) = Nibbles(panel + 64);
            s0 = T.Add(s0, lo, hi, xb, 16);
            s1 = T.Add(s1, lo, hi, xb, 48);
            s2 = T.Add(s2, lo, hi, xb, 80);
            s3 = T.Add(s3, lo, hi, xb, 112);
            (lo, hi) = Nibbles(panel + 96);
            s0 = T.Add(s0, lo, hi, xb, 24);
            s1 = T.Add(s1, lo, hi, xb, 56);
            s2 = T.Add(s2, lo, hi, xb, 88);
            s3 = T.Add(s3, lo, hi, xb, 120);
            var scales = Avx.LoadVector256((float*)(panel + (PanelRows * BlockBytes)));
            a0 = Scale(T.Total(s0), zb[0], sb[0], scales, a0);
            a1 = Scale(T.Total(s1), zb[1], sb[1], scales, a1);
            a2 = Scale(T.Total(s2), zb[2], sb[2], scales, a2);
            a3 = Scale(T.Total(s3), zb[3], sb[3], scales, a3);
        }

        Store(a0, y, width);
        Store(a1, y + n, width);
        Store(a2, y + (2 * n), width);
        Store(a3, y + (3 * n), width);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Rows2<T>(byte* panel, int blocks, Activations x, float* y, int n, int width)
        where T : struct, IBlockSums
    {
        Vector256<float> a0 = default, a1 = default;
        sbyte* xb = x.Codes;
        float* sb = x.Scales;
        int* zb = x.ZeroPoints;
        for (int b = 0; b < blocks; b++, panel += PanelBlockBytes, xb += x.CodeStride, sb += x.Stride, zb += x.Stride)
        {
            Prefetch(panel);
            var (lo, hi) = Nibbles(panel);
            Vector256<int> s0 = T.Add(default, lo, hi, xb, 0), s1 = T.Add(default, lo, hi, xb, 32);
            (lo, hi) = Nibbles(panel + 32);
            s0 = T.Add(s0, lo, hi, xb, 8);
            s1 = T.Add(s1, lo, hi, xb, 40);
            (lo, hi) = Nibbles(panel + 64);
            s0 = T.Add(s0, lo, hi, xb, 16);
            s1 = T.Add(s1, lo, hi, xb, 48);
            (lo, hi) = Nibbles(panel + 96);
            s0 = T.Add(s0, lo, hi, xb, 24);
            s1 = T.Add(s1, lo, hi, xb, 56);
            var scales = Avx.LoadVector256((float*)(panel + (PanelRows * BlockBytes)));
            a0 = Scale(T.Total(s0), zb[0], sb[0], scales, a0);
            a1 = Scale(T.Total(s1), zb[1], sb[1], scales, a1);
        }

        Store(a0, y, width);
        Store(a1, y + n, width);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Rows1<T>(byte* panel, int blocks, Activations x, float* y, int width)
        where T : struct, IBlockSums
    {
        // Two accumulators: consecutive blocks' FMAs do not wait on each other.
        Vector256<float> a0 = default, a1 = default;
        sbyte* xb = x.Codes;
        float* sb = x.Scales;
        int* zb = x.ZeroPoints;
        int b = 0;
        for (; b + 2 <= blocks; b += 2, panel += 2 * PanelBlockBytes, xb += 2 * x.CodeStride, sb += 2 * x.Stride, zb += 2 * x.Stride)
        {
            a0 = Scale(T.Total(Block<T>(panel, xb)), zb[0], sb[0], Avx.LoadVector256((float*)(panel + (PanelRows * BlockBytes))), a0);
            byte* next = panel + PanelBlockBytes;
            a1 = Scale(T.Total(Block<T>(next, xb + x.CodeStride)), zb[x.Stride], sb[x.Stride], Avx.LoadVector256((float*)(next + (PanelRows * BlockBytes))), a1);
        }

        if (b < blocks)
        {
            a0 = Scale(T.Total(Block<T>(panel, xb)), zb[0], sb[0], Avx.LoadVector256((float*)(panel + (PanelRows * BlockBytes))), a0);
        }

        Store(a0 + a1, y, width);
    }

    // The cache lines of the block PrefetchDistance ahead (the next panel's, near a panel's end: panels are
    // contiguous). Measured on a stream of weights: the hardware prefetcher alone left the two- and four-row loops at
    // 60-70% of the speed they reach with it; the one-row loop, a plain stream, showed no difference and has none.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Prefetch(byte* block)
    {
        byte* ahead = block + PrefetchDistance;
        Sse.Prefetch0(ahead);
        Sse.Prefetch0(ahead + 64);
        Sse.Prefetch0(ahead + 128);
    }

    // 16 blocks ahead: measured against 4, 8 and 32 blocks (docs/benchmarks.md).
    private const int PrefetchDistance = 16 * PanelBlockBytes;

    // One block of a panel against one activation row's block: the 8 rows' integer sums.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<int> Block<T>(byte* panel, sbyte* x)
        where T : struct, IBlockSums
    {
        var (lo, hi) = Nibbles(panel);
        var s = T.Add(default, lo, hi, x, 0);
        (lo, hi) = Nibbles(panel + 32);
        s = T.Add(s, lo, hi, x, 8);
        (lo, hi) = Nibbles(panel + 64);
        s = T.Add(s, lo, hi, x, 16);
        (lo, hi) = Nibbles(panel + 96);
        return T.Add(s, lo, hi, x, 24);
    }

    // A 32-byte chunk's low nibbles (each row's even elements of the chunk) and high nibbles (its odd ones).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe (Vector256<byte> Low, Vector256<byte> High) Nibbles(byte* chunk)
    {
        var packed = Avx.LoadVector256(chunk);
        var mask = Vector256.Create((byte)0x0F);
        return (packed & mask, Avx2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & mask);
    }

    // acc + wScales * xScale * (the block's integer dot products - the zero point's share).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Scale(Vector256<int> dots, int zeroPoint, float xScale, Vector256<float> wScales, Vector256<float> acc) =>
        Fma.MultiplyAdd(Avx.ConvertToVector256Single(dots - Vector256.Create(zeroPoint)) * Vector256.Create(xScale), wScales, acc);

    /// <summary>How a block's products are summed: the running sums of one activation row against a panel's 8 rows.</summary>
    internal interface IBlockSums
    {
        /// <summary>sums + one chunk's products: low and high nibbles against the activation codes at x + offset (4 even
        /// elements, then 4 odd ones, each group broadcast to every row). The offset is a constant at every call, so
        /// that both loads address x directly.</summary>
        static abstract unsafe Vector256<int> Add(Vector256<int> sums, Vector256<byte> low, Vector256<byte> high, sbyte* x, int offset);

        /// <summary>The block's dot product per output row, from its running sums.</summary>
        static abstract Vector256<int> Total(Vector256<int> sums);
    }

    // AVX2: `vpmaddubsw` gives two pairs of products per row in int16, summed in int16 over the block (16 x 15 x 127
    // < 32767) and widened once per block by `vpmaddwd`.
    private readonly struct MaddSums : IBlockSums
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector256<int> Add(Vector256<int> sums, Vector256<byte> low, Vector256<byte> high, sbyte* x, int offset) =>
            (sums.AsInt16() + Avx2.MultiplyAddAdjacent(low, Vector256.Create(*(int*)(x + offset)).AsSByte()) +
                Avx2.MultiplyAddAdjacent(high, Vector256.Create(*(int*)(x + (offset + 4))).AsSByte())).AsInt32();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Total(Vector256<int> sums) => Avx2.MultiplyAddAdjacent(sums.AsInt16(), Vector256.Create((short)1));
    }

    // AVX-VNNI: `vpdpbusd` adds four products per row straight into int32, one instruction where AVX2 needs two (and
    // the widening per block).
    private readonly struct VnniSums : IBlockSums
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector256<int> Add(Vector256<int> sums, Vector256<byte> low, Vector256<byte> high, sbyte* x, int offset) =>
            AvxVnni.MultiplyWideningAndAdd(
                AvxVnni.MultiplyWideningAndAdd(sums, low, Vector256.Create(*(int*)(x + offset)).AsSByte()), high, Vector256.Create(*(int*)(x + (offset + 4))).AsSByte());

        public static Vector256<int> Total(Vector256<int> sums) => sums;
    }

    // The first 'width' lanes of v to y (a last panel may be partly padding).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store(Vector256<float> v, float* y, int width)
    {
        if (width == PanelRows)
        {
            Avx.Store(y, v);
        }
        else
        {
            for (int i = 0; i < width; i++)
            {
                y[i] = v.GetElement(i);
            }
        }
    }
}

/// <summary>The instructions <see cref="Int4MatMul"/> sums a block's products with.</summary>
internal enum Int4Dot
{
    /// <summary>AVX2's `vpmaddubsw` into int16, widened per block.</summary>
    Madd,

    /// <summary>AVX-VNNI's `vpdpbusd` into int32.</summary>
    Vnni,
}
