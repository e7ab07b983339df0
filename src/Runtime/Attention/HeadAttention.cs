using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace MoeServe.Runtime.Attention;

/// <summary>
/// One query's attention over one head of a KV cache: keys laid out [headDim, capacity] (position
/// innermost), values [capacity, headDim] (channel innermost). Both halves keep their accumulators in
/// registers and read each cached number once: scores a vector of positions at a time across the
/// channels, the output a vector of channels at a time across the positions. (TensorPrimitives called
/// per channel or per position would store and reload the partial sums on every call; measured ~1.3x
/// slower at 100 positions.)
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
        int width = Vector<float>.Count;
        int s = 0;
        for (; s + width <= visible; s += width)
        {
            var acc = Vector<float>.Zero;
            for (int c = 0; c < hd; c++)
            {
                acc += new Vector<float>(keys.Slice((c * capacity) + s, width)) * query[c];
            }

            (acc * scale).CopyTo(scores.Slice(s, width));
        }

        for (; s < visible; s++)
        {
            float dot = 0;
            for (int c = 0; c < hd; c++)
            {
                dot += keys[(c * capacity) + s] * query[c];
            }

            scores[s] = dot * scale;
        }

        var p = probabilities[..visible];
        TensorPrimitives.SoftMax(scores[..visible], p);
        int c0 = 0;
        for (; c0 + width <= hd; c0 += width)
        {
            var acc = Vector<float>.Zero;
            for (int j = 0; j < visible; j++)
            {
                acc += new Vector<float>(values.Slice((j * hd) + c0, width)) * p[j];
            }

            acc.CopyTo(output.Slice(c0, width));
        }

        for (; c0 < hd; c0++)
        {
            float sum = 0;
            for (int j = 0; j < visible; j++)
            {
                sum += values[(j * hd) + c0] * p[j];
            }

            output[c0] = sum;
        }
    }
}
