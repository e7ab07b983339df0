using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MoeServe.Runtime.Attention;

/// <summary>
/// One query's attention over one head of a KV cache: keys laid out [headDim, capacity] (position
/// innermost), values [capacity, headDim] (channel innermost). Both halves keep their accumulators in
/// registers and read each cached number once: scores a vector of positions at a time across the
/// channels, the output a vector of channels at a time across the positions. (TensorPrimitives called
/// per channel or per position would store and reload the partial sums on every call; measured ~1.3x
/// slower at 100 positions.) Up to four independent accumulators run side by side, because one
/// accumulator waits on its own add every iteration (the add's latency, not the load, set the pace);
/// each score and each output channel is still summed in the same order as with one, so the results
/// are the same bits. Bounds are checked once per call, not per vector.
/// </summary>
internal static class HeadAttention
{
    /// <summary>
    /// output[c] = sum_s softmax(scale * q . K[:, s])_s * V[s, c] over positions s in [0, visible).
    /// </summary>
    /// <param name="keys">The head's keys, [headDim, capacity].</param>
    /// <param name="values">The head's values, [capacity, headDim].</param>
    /// <param name="capacity">Positions per channel row.</param>
    /// <param name="visible">Positions the query may see (1 .. capacity).</param>
    /// <param name="query">The query, [headDim].</param>
    /// <param name="scale">1 / sqrt(headDim).</param>
    /// <param name="scores">Scratch of at least <paramref name="visible"/> floats.</param>
    /// <param name="probabilities">Scratch of at least <paramref name="visible"/> floats.</param>
    /// <param name="output">Receives [headDim].</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // Vector<T> code is slow until tier-1; skip tiering.
    public static void Compute(
        ReadOnlySpan<float> keys,
        ReadOnlySpan<float> values,
        int capacity,
        int visible,
        ReadOnlySpan<float> query,
        float scale,
        Span<float> scores,
        Span<float> probabilities,
        Span<float> output)
    {
        int hd = query.Length;
        if ((uint)visible > (uint)capacity || keys.Length < hd * capacity || values.Length < visible * hd || scores.Length < visible || probabilities.Length < visible || output.Length < hd)
        {
            throw new ArgumentException("Attention operands are smaller than headDim, capacity and visible require.");
        }

        Scores(keys, capacity, visible, query, scale, scores);
        var p = probabilities[..visible];
        TensorPrimitives.SoftMax(scores[..visible], p);
        WeightedValues(values, visible, p, output[..hd]);
    }

    // scores[s] = scale * sum_c K[c, s] q[c], c ascending for every s.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scores(ReadOnlySpan<float> keys, int capacity, int visible, ReadOnlySpan<float> query, float scale, Span<float> scores)
    {
        int hd = query.Length;
        int width = Vector<float>.Count;
        ref float k = ref MemoryMarshal.GetReference(keys);
        ref float q = ref MemoryMarshal.GetReference(query);
        ref float outScores = ref MemoryMarshal.GetReference(scores);
        int s = 0;
        for (; s + (4 * width) <= visible; s += 4 * width)
        {
            var a0 = Vector<float>.Zero;
            var a1 = Vector<float>.Zero;
            var a2 = Vector<float>.Zero;
            var a3 = Vector<float>.Zero;
            for (int c = 0; c < hd; c++)
            {
                float qc = Unsafe.Add(ref q, c);
                ref float row = ref Unsafe.Add(ref k, (c * capacity) + s);
                a0 += Vector.LoadUnsafe(ref row) * qc;
                a1 += Vector.LoadUnsafe(ref row, (nuint)width) * qc;
                a2 += Vector.LoadUnsafe(ref row, (nuint)(2 * width)) * qc;
                a3 += Vector.LoadUnsafe(ref row, (nuint)(3 * width)) * qc;
            }

            (a0 * scale).StoreUnsafe(ref outScores, (nuint)s);
            (a1 * scale).StoreUnsafe(ref outScores, (nuint)(s + width));
            (a2 * scale).StoreUnsafe(ref outScores, (nuint)(s + (2 * width)));
            (a3 * scale).StoreUnsafe(ref outScores, (nuint)(s + (3 * width)));
        }

        for (; s + width <= visible; s += width)
        {
            var acc = Vector<float>.Zero;
            for (int c = 0; c < hd; c++)
            {
                acc += Vector.LoadUnsafe(ref Unsafe.Add(ref k, (c * capacity) + s)) * Unsafe.Add(ref q, c);
            }

            (acc * scale).StoreUnsafe(ref outScores, (nuint)s);
        }

        for (; s < visible; s++)
        {
            float dot = 0;
            for (int c = 0; c < hd; c++)
            {
                dot += Unsafe.Add(ref k, (c * capacity) + s) * Unsafe.Add(ref q, c);
            }

            Unsafe.Add(ref outScores, s) = dot * scale;
        }
    }

    // output[c] = sum_j p[j] V[j, c], j ascending for every c.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedValues(ReadOnlySpan<float> values, int visible, ReadOnlySpan<float> p, Span<float> output)
    {
        int hd = output.Length;
        int width = Vector<float>.Count;
        ref float v = ref MemoryMarshal.GetReference(values);
        ref float weights = ref MemoryMarshal.GetReference(p);
        ref float o = ref MemoryMarshal.GetReference(output);
        int c0 = 0;
        for (; c0 + (4 * width) <= hd; c0 += 4 * width)
        {
            var a0 = Vector<float>.Zero;
            var a1 = Vector<float>.Zero;
            var a2 = Vector<float>.Zero;
            var a3 = Vector<float>.Zero;
            for (int j = 0; j < visible; j++)
            {
                float pj = Unsafe.Add(ref weights, j);
                ref float row = ref Unsafe.Add(ref v, (j * hd) + c0);
                a0 += Vector.LoadUnsafe(ref row) * pj;
                a1 += Vector.LoadUnsafe(ref row, (nuint)width) * pj;
                a2 += Vector.LoadUnsafe(ref row, (nuint)(2 * width)) * pj;
                a3 += Vector.LoadUnsafe(ref row, (nuint)(3 * width)) * pj;
            }

            a0.StoreUnsafe(ref o, (nuint)c0);
            a1.StoreUnsafe(ref o, (nuint)(c0 + width));
            a2.StoreUnsafe(ref o, (nuint)(c0 + (2 * width)));
            a3.StoreUnsafe(ref o, (nuint)(c0 + (3 * width)));
        }

        for (; c0 + (2 * width) <= hd; c0 += 2 * width)
        {
            var a0 = Vector<float>.Zero;
            var a1 = Vector<float>.Zero;
            for (int j = 0; j < visible; j++)
            {
                float pj = Unsafe.Add(ref weights, j);
                ref float row = ref Unsafe.Add(ref v, (j * hd) + c0);
                a0 += Vector.LoadUnsafe(ref row) * pj;
                a1 += Vector.LoadUnsafe(ref row, (nuint)width) * pj;
            }

            a0.StoreUnsafe(ref o, (nuint)c0);
            a1.StoreUnsafe(ref o, (nuint)(c0 + width));
        }

        for (; c0 + width <= hd; c0 += width)
        {
            var acc = Vector<float>.Zero;
            for (int j = 0; j < visible; j++)
            {
                acc += Vector.LoadUnsafe(ref Unsafe.Add(ref v, (j * hd) + c0)) * Unsafe.Add(ref weights, j);
            }

            acc.StoreUnsafe(ref o, (nuint)c0);
        }

        for (; c0 < hd; c0++)
        {
            float sum = 0;
            for (int j = 0; j < visible; j++)
            {
                sum += Unsafe.Add(ref v, (j * hd) + c0) * Unsafe.Add(ref weights, j);
            }

            Unsafe.Add(ref o, c0) = sum;
        }
    }
}
