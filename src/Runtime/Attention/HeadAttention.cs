using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MoeServe.Runtime.Attention;

/// <summary>
/// One query's attention over one head of a KV cache: keys in tiles of <see cref="KeyTile"/> positions,
/// [capacity / tile, headDim, tile] (<see cref="KeyOffset"/>), values [capacity, headDim] (channel
/// innermost). Both halves keep their accumulators in registers and read each cached number once:
/// scores a tile of positions at a time across the channels, the output a vector of channels at a time
/// across the positions. The tiles make the score pass read the keys front to back (a [headDim,
/// capacity] layout reads headDim short runs a capacity apart, which the prefetcher follows badly). (TensorPrimitives called
/// per channel or per position would store and reload the partial sums on every call; measured ~1.3x
/// slower at 100 positions.) Up to four independent accumulators run side by side, because one
/// accumulator waits on its own add every iteration (the add's latency, not the load, set the pace);
/// each score and each output channel is still summed in the same order as with one, so the results
/// are the same bits. Bounds are checked once per call, not per vector.
/// </summary>
internal static class HeadAttention
{
    /// <summary>Positions per key tile: one 256-bit vector of floats.</summary>
    public const int KeyTile = 8;

    /// <summary>Where the key of <paramref name="position"/>, channel <paramref name="channel"/> sits in a head's key buffer.</summary>
    /// <param name="position">Position in the sequence.</param>
    /// <param name="channel">Channel in [0, headDim).</param>
    /// <param name="headDim">Channels per head.</param>
    public static int KeyOffset(int position, int channel, int headDim) =>
        ((position / KeyTile) * headDim * KeyTile) + (channel * KeyTile) + (position % KeyTile);

    /// <summary>Positions a head's key buffer is sized for: <paramref name="capacity"/> rounded up to whole tiles.</summary>
    /// <param name="capacity">Most positions a sequence holds.</param>
    public static int PaddedCapacity(int capacity) => (capacity + KeyTile - 1) / KeyTile * KeyTile;

    /// <summary>
    /// output[c] = sum_s softmax(scale * q . K[:, s])_s * V[s, c] over positions s in [0, visible).
    /// </summary>
    /// <param name="keys">The head's keys, tiled (<see cref="KeyOffset"/>), at least <see cref="PaddedCapacity"/>(visible) x headDim.</param>
    /// <param name="values">The head's values, [positions, headDim].</param>
    /// <param name="visible">Positions the query may see.</param>
    /// <param name="query">The query, [headDim].</param>
    /// <param name="scale">1 / sqrt(headDim).</param>
    /// <param name="scores">Scratch of at least <paramref name="visible"/> floats.</param>
    /// <param name="probabilities">Scratch of at least <paramref name="visible"/> floats.</param>
    /// <param name="output">Receives [headDim].</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // Vector<T> code is slow until tier-1; skip tiering.
    public static void Compute(
        ReadOnlySpan<float> keys,
        ReadOnlySpan<float> values,
        int visible,
        ReadOnlySpan<float> query,
        float scale,
        Span<float> scores,
        Span<float> probabilities,
        Span<float> output)
    {
        int hd = query.Length;
        if (visible < 1 || keys.Length < hd * PaddedCapacity(visible) || values.Length < visible * hd || scores.Length < visible || probabilities.Length < visible || output.Length < hd)
        {
            throw new ArgumentException("Attention operands are smaller than headDim, capacity and visible require.");
        }

        Scores(keys, visible, query, scale, scores);
        var p = probabilities[..visible];
        TensorPrimitives.SoftMax(scores[..visible], p);
        WeightedValues(values, visible, p, output[..hd]);
    }

    // scores[s] = scale * sum_c K[c, s] q[c], c ascending for every s.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scores(ReadOnlySpan<float> keys, int visible, ReadOnlySpan<float> query, float scale, Span<float> scores)
    {
        int hd = query.Length;
        int tileFloats = hd * KeyTile;
        ref float k = ref MemoryMarshal.GetReference(keys);
        ref float q = ref MemoryMarshal.GetReference(query);
        ref float outScores = ref MemoryMarshal.GetReference(scores);
        int s = 0;
        for (; s + (4 * KeyTile) <= visible; s += 4 * KeyTile)
        {
            ref float tile = ref Unsafe.Add(ref k, s / KeyTile * tileFloats);
            var a0 = Vector256<float>.Zero;
            var a1 = Vector256<float>.Zero;
            var a2 = Vector256<float>.Zero;
            var a3 = Vector256<float>.Zero;
            for (int c = 0; c < hd; c++)
            {
                float qc = Unsafe.Add(ref q, c);
                nuint at = (nuint)(c * KeyTile);
                a0 += Vector256.LoadUnsafe(ref tile, at) * qc;
                a1 += Vector256.LoadUnsafe(ref tile, at + (nuint)tileFloats) * qc;
                a2 += Vector256.LoadUnsafe(ref tile, at + (nuint)(2 * tileFloats)) * qc;
                a3 += Vector256.LoadUnsafe(ref tile, at + (nuint)(3 * tileFloats)) * qc;
            }

            (a0 * scale).StoreUnsafe(ref outScores, (nuint)s);
            (a1 * scale).StoreUnsafe(ref outScores, (nuint)(s + KeyTile));
            (a2 * scale).StoreUnsafe(ref outScores, (nuint)(s + (2 * KeyTile)));
            (a3 * scale).StoreUnsafe(ref outScores, (nuint)(s + (3 * KeyTile)));
        }

        for (; s + KeyTile <= visible; s += KeyTile)
        {
            ref float tile = ref Unsafe.Add(ref k, s / KeyTile * tileFloats);
            var acc = Vector256<float>.Zero;
            for (int c = 0; c < hd; c++)
            {
                acc += Vector256.LoadUnsafe(ref tile, (nuint)(c * KeyTile)) * Unsafe.Add(ref q, c);
            }

            (acc * scale).StoreUnsafe(ref outScores, (nuint)s);
        }

        for (; s < visible; s++)
        {
            ref float first = ref Unsafe.Add(ref k, KeyOffset(s, 0, hd));
            float dot = 0;
            for (int c = 0; c < hd; c++)
            {
                dot += Unsafe.Add(ref first, c * KeyTile) * Unsafe.Add(ref q, c);
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
