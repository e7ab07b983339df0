using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MoeServe.Runtime.Attention;

namespace MoeServe.Runtime.Kernels;

/// <summary>
/// y = x W for W [K, N] of float16 numbers stored row-major, as an exported graph's MatMul holds them, x and y
/// float32. Each weight is widened to float32 in registers and the sums are float32 FMAs, so the result is ONNX
/// Runtime's float32 MatMul over the folded weights up to the order of the additions, while a step reads half the
/// bytes. The widening (<see cref="HalfVectors"/>' bit placement) leaves out float16's exponent rebias of 2^112,
/// which would cost a multiply per eight weights on the FMA ports: the activations carry 2^56 of it and the outputs
/// the other 2^56, powers of two that change no rounding while every product is a normal float32 (activations
/// below 2^60 in magnitude; larger ones, or NaN, take a scalar path). For the few rows of a decode step: strips of
/// 32 output columns (<see cref="HalfMatrix"/> stores each strip's K rows contiguously), four, two or one
/// activation rows at a time, K innermost (a strip stays in L1 while the rows pass over it). AVX2 with FMA only.
/// </summary>
internal static class HalfMatMul
{
    /// <summary>Output columns a strip covers: four 8-float accumulators a row.</summary>
    public const int Strip = 32;

    // 2^56: the half of the exponent rebias the activations carry, and the half the outputs get at the end.
    private const float HalfRebias = 72057594037927936f;

    // Activations at or above 2^60 could overflow once scaled: the scalar path takes them.
    private const float LargestScaled = 1152921504606846976f;

    // Scaled activations of up to this many floats go on the stack (64 KB).
    private const int StackFloats = 16384;

    /// <summary>Whether the kernel runs on this CPU.</summary>
    public static bool IsAccelerated => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>y [rows, N] = x [rows, K] W.</summary>
    public static void Multiply(ReadOnlySpan<float> x, int rows, HalfMatrix w, Span<float> y) => Multiply(x, rows, w, y, 0, w.Strips);

    /// <summary>The columns of strips [<paramref name="firstStrip"/>, + <paramref name="strips"/>) of y = x W (the rest of y is not written).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Multiply(ReadOnlySpan<float> x, int rows, HalfMatrix w, Span<float> y, int firstStrip, int strips)
    {
        if (!IsAccelerated)
        {
            throw new PlatformNotSupportedException("The float16 kernel needs AVX2 and FMA; the loader keeps ONNX Runtime sessions without them.");
        }

        int k = w.Rows;
        int n = w.Columns;
        if (rows < 0 || x.Length < rows * k || y.Length < rows * n)
        {
            throw new ArgumentException($"x ({x.Length}) or y ({y.Length}) is smaller than {rows} rows of [{k}, {n}].");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(firstStrip);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(strips, w.Strips - firstStrip);

        var input = x[..(rows * k)];
        if (!(MathF.Abs(TensorPrimitives.MaxMagnitude(input)) < LargestScaled))
        {
            Scalar(input, rows, w, y, firstStrip, strips);
            return;
        }

        float[]? rented = input.Length > StackFloats ? ArrayPool<float>.Shared.Rent(input.Length) : null;
        Span<float> scaled = rented is null ? stackalloc float[input.Length] : rented.AsSpan(0, input.Length);
        TensorPrimitives.Multiply(input, HalfRebias, scaled);
        try
        {
            Strips(scaled, rows, w, y, firstStrip, firstStrip + strips);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<float>.Shared.Return(rented);
            }
        }
    }

    // Every strip over the scaled activations.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Strips(ReadOnlySpan<float> x, int rows, HalfMatrix w, Span<float> y, int from, int to)
    {
        int k = w.Rows;
        int n = w.Columns;
        fixed (short* wp = w.Packed)
        fixed (float* xp = x)
        fixed (float* yp = y)
        {
            float* partial = stackalloc float[2 * Strip];
            for (int s = from; s < to; s++)
            {
                short* strip = wp + ((long)s * k * Strip);
                int j = s * Strip;
                int width = Math.Min(Strip, n - j);
                int r = 0;
                if (width == Strip)
                {
                    for (; r + 4 <= rows; r += 4)
                    {
                        Strip4(strip, k, xp + (r * k), yp + (r * n) + j, n);
                    }
                }

                for (; r < rows; r += 2)
                {
                    bool two = r + 1 < rows;
                    float* xr = xp + (r * k);
                    if (width == Strip && two)
                    {
                        Strip2(strip, k, xr, yp + (r * n) + j, n);
                    }
                    else if (width == Strip)
                    {
                        Strip1(strip, k, xr, yp + (r * n) + j);
                    }
                    else
                    {
                        // The padded last strip: into a buffer, then only its real columns.
                        if (two)
                        {
                            Strip2(strip, k, xr, partial, Strip);
                            new Span<float>(partial + Strip, width).CopyTo(new Span<float>(yp + ((r + 1) * n) + j, width));
                        }
                        else
                        {
                            Strip1(strip, k, xr, partial);
                        }

                        new Span<float>(partial, width).CopyTo(new Span<float>(yp + (r * n) + j, width));
                    }
                }
            }
        }
    }

    // One row: 32 outputs, two inputs an iteration into two sets of four accumulators (one set would wait on the
    // FMA's latency every input).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Strip1(short* w, int k, float* x, float* y)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        nint i = 0;
        for (; i + 2 <= k; i += 2, w += 2 * Strip)
        {
            var xi = Vector256.Create(x[i]);
            var xj = Vector256.Create(x[i + 1]);
            a0 = Fma.MultiplyAdd(Widen(w), xi, a0);
            a1 = Fma.MultiplyAdd(Widen(w + 8), xi, a1);
            a2 = Fma.MultiplyAdd(Widen(w + 16), xi, a2);
            a3 = Fma.MultiplyAdd(Widen(w + 24), xi, a3);
            b0 = Fma.MultiplyAdd(Widen(w + Strip), xj, b0);
            b1 = Fma.MultiplyAdd(Widen(w + Strip + 8), xj, b1);
            b2 = Fma.MultiplyAdd(Widen(w + Strip + 16), xj, b2);
            b3 = Fma.MultiplyAdd(Widen(w + Strip + 24), xj, b3);
        }

        if (i < k)
        {
            var xi = Vector256.Create(x[i]);
            a0 = Fma.MultiplyAdd(Widen(w), xi, a0);
            a1 = Fma.MultiplyAdd(Widen(w + 8), xi, a1);
            a2 = Fma.MultiplyAdd(Widen(w + 16), xi, a2);
            a3 = Fma.MultiplyAdd(Widen(w + 24), xi, a3);
        }

        Avx.Store(y, Rescale(a0 + b0));
        Avx.Store(y + 8, Rescale(a1 + b1));
        Avx.Store(y + 16, Rescale(a2 + b2));
        Avx.Store(y + 24, Rescale(a3 + b3));
    }

    // Two rows k apart, into outputs n apart: each widened weight vector used twice.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Strip2(short* w, int k, float* x, float* y, int n)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        float* x2 = x + k;
        for (nint i = 0; i < k; i++, w += Strip)
        {
            var xi = Vector256.Create(x[i]);
            var zi = Vector256.Create(x2[i]);
            var w0 = Widen(w);
            var w1 = Widen(w + 8);
            var w2 = Widen(w + 16);
            var w3 = Widen(w + 24);
            a0 = Fma.MultiplyAdd(w0, xi, a0);
            a1 = Fma.MultiplyAdd(w1, xi, a1);
            a2 = Fma.MultiplyAdd(w2, xi, a2);
            a3 = Fma.MultiplyAdd(w3, xi, a3);
            b0 = Fma.MultiplyAdd(w0, zi, b0);
            b1 = Fma.MultiplyAdd(w1, zi, b1);
            b2 = Fma.MultiplyAdd(w2, zi, b2);
            b3 = Fma.MultiplyAdd(w3, zi, b3);
        }

        Avx.Store(y, Rescale(a0));
        Avx.Store(y + 8, Rescale(a1));
        Avx.Store(y + 16, Rescale(a2));
        Avx.Store(y + 24, Rescale(a3));
        float* z = y + n;
        Avx.Store(z, Rescale(b0));
        Avx.Store(z + 8, Rescale(b1));
        Avx.Store(z + 16, Rescale(b2));
        Avx.Store(z + 24, Rescale(b3));
    }

    // Four rows k apart, into outputs n apart: the strip in two halves of 16 columns, so that four rows' eight
    // accumulators, two weight vectors and a broadcast fit AVX2's sixteen registers; each widened weight vector
    // serves four rows.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Strip4(short* w, int k, float* x, float* y, int n)
    {
        for (int half = 0; half < Strip; half += 16)
        {
            Vector256<float> a0 = default, a1 = default, b0 = default, b1 = default;
            Vector256<float> c0 = default, c1 = default, d0 = default, d1 = default;
            short* wi = w + half;
            float* x1 = x + k;
            float* x2 = x1 + k;
            float* x3 = x2 + k;
            for (nint i = 0; i < k; i++, wi += Strip)
            {
                var lo = Widen(wi);
                var hi = Widen(wi + 8);
                var xa = Vector256.Create(x[i]);
                a0 = Fma.MultiplyAdd(lo, xa, a0);
                a1 = Fma.MultiplyAdd(hi, xa, a1);
                var xb = Vector256.Create(x1[i]);
                b0 = Fma.MultiplyAdd(lo, xb, b0);
                b1 = Fma.MultiplyAdd(hi, xb, b1);
                var xc = Vector256.Create(x2[i]);
                c0 = Fma.MultiplyAdd(lo, xc, c0);
                c1 = Fma.MultiplyAdd(hi, xc, c1);
                var xd = Vector256.Create(x3[i]);
                d0 = Fma.MultiplyAdd(lo, xd, d0);
                d1 = Fma.MultiplyAdd(hi, xd, d1);
            }

            float* yh = y + half;
            Avx.Store(yh, Rescale(a0));
            Avx.Store(yh + 8, Rescale(a1));
            Avx.Store(yh + n, Rescale(b0));
            Avx.Store(yh + n + 8, Rescale(b1));
            Avx.Store(yh + (2 * n), Rescale(c0));
            Avx.Store(yh + (2 * n) + 8, Rescale(c1));
            Avx.Store(yh + (3 * n), Rescale(d0));
            Avx.Store(yh + (3 * n) + 8, Rescale(d1));
        }
    }

    // Eight float16 numbers at w, sign-extended to 32 bits by the load itself, placed as float32 without the rebias.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<float> Widen(short* w) => HalfVectors.PlaceInt32(Avx2.ConvertToVector256Int32(w));

    // Sums of scaled activations and unrebiased weights back to their values.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Rescale(Vector256<float> sums) => sums * Vector256.Create(HalfRebias);

    // The same products one at a time with every weight converted by .NET: activations too large to scale.
    private static void Scalar(ReadOnlySpan<float> x, int rows, HalfMatrix w, Span<float> y, int firstStrip, int strips)
    {
        int k = w.Rows;
        int n = w.Columns;
        for (int r = 0; r < rows; r++)
        {
            for (int j = firstStrip * Strip; j < Math.Min(n, (firstStrip + strips) * Strip); j++)
            {
                int strip = j / Strip;
                float sum = 0;
                for (int i = 0; i < k; i++)
                {
                    var weight = BitConverter.Int16BitsToHalf(w.Packed[(((long)strip * k) + i) * Strip + (j % Strip)]);
                    sum = MathF.FusedMultiplyAdd((float)weight, x[(r * k) + i], sum);
                }

                y[(r * n) + j] = sum;
            }
        }
    }
}
