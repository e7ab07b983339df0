using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MoeServe.Runtime.Attention;

namespace MoeServe.Runtime.Kernels;

/// <summary>
/// y = x W for W [K, N] of float16 numbers stored row-major, as an exported graph's MatMul holds them, x and y
/// float32. Each weight is widened exactly to float32 in registers (<see cref="HalfVectors.Widen"/>) and the sums
/// are float32 FMAs, so the result is ONNX Runtime's float32 MatMul over the folded weights up to the order
/// of the additions, while a step reads half the bytes. For the few rows of a decode step: strips of 32 output
/// columns (<see cref="HalfMatrix"/> stores each strip's K rows contiguously), one or two activation rows at a time, K
/// innermost (a strip stays in L1 while the rows pass over it).
/// AVX2 with FMA only.
/// </summary>
internal static class HalfMatMul
{
    /// <summary>Output columns a strip covers: four 8-float accumulators a row.</summary>
    public const int Strip = 32;

    /// <summary>Whether the kernel runs on this CPU.</summary>
    public static bool IsAccelerated => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>y [rows, N] = x [rows, K] W.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Multiply(ReadOnlySpan<float> x, int rows, HalfMatrix w, Span<float> y)
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

        fixed (short* wp = w.Packed)
        fixed (float* xp = x)
        fixed (float* yp = y)
        {
            float* partial = stackalloc float[2 * Strip];
            for (int s = 0; s < w.Strips; s++)
            {
                short* strip = wp + ((long)s * k * Strip);
                int j = s * Strip;
                int width = Math.Min(Strip, n - j);
                for (int r = 0; r < rows; r += 2)
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
        int i = 0;
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

        Avx.Store(y, a0 + b0);
        Avx.Store(y + 8, a1 + b1);
        Avx.Store(y + 16, a2 + b2);
        Avx.Store(y + 24, a3 + b3);
    }

    // Two rows k apart, into outputs n apart: each widened weight vector used twice.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Strip2(short* w, int k, float* x, float* y, int n)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        float* x2 = x + k;
        for (int i = 0; i < k; i++, w += Strip)
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

        Avx.Store(y, a0);
        Avx.Store(y + 8, a1);
        Avx.Store(y + 16, a2);
        Avx.Store(y + 24, a3);
        float* z = y + n;
        Avx.Store(z, b0);
        Avx.Store(z + 8, b1);
        Avx.Store(z + 16, b2);
        Avx.Store(z + 24, b3);
    }

    // Eight float16 numbers at w, sign-extended to 32 bits by the load itself, then widened exactly.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<float> Widen(short* w) => HalfVectors.WidenInt32(Avx2.ConvertToVector256Int32(w));
}
