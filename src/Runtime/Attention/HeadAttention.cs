using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MoeServe.Runtime.Attention;

/// <summary>
/// One query's attention over one head of a KV cache, in one pass over the cache (the score and the
/// value passes fused, flash-attention style): keys in tiles of <see cref="KeyTile"/> positions,
/// [capacity / tile, headDim, tile] (<see cref="KeyOffset"/>), values [capacity, headDim] (channel
/// innermost), either float32 or float16 (<see cref="Half"/>, widened to float32 in registers, see
/// <see cref="HalfVectors"/>). Blocks of <see cref="BlockPositions"/> positions: the block's scores
/// (eight independent 256-bit accumulators, one per tile for even and one for odd channels), the running maximum
/// (the output so far is rescaled when it grows), the block's exponentials, then the block's values
/// added to the output a vector of channels at a time (even and odd positions apart). Independent accumulators
/// because a chain of dependent FMAs, not their number, bounded a head of 128 channels. Each cached number is read once, the keys and
/// the values of a block while both are in L1, and nothing is written but the output and a
/// 32-float stack block. Vector256 only: AVX2 is enough, AVX-512 machines run the same code.
/// </summary>
internal static class HeadAttention
{
    /// <summary>Positions per key tile: one 256-bit vector of float32 scores.</summary>
    public const int KeyTile = 8;

    /// <summary>Positions per block of the fused pass: four key tiles.</summary>
    public const int BlockPositions = 4 * KeyTile;

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
    /// Allocation-free; <typeparamref name="T"/> is <see cref="float"/> or <see cref="Half"/>.
    /// </summary>
    /// <typeparam name="T">The cache's element type.</typeparam>
    /// <param name="keys">The head's keys, tiled (<see cref="KeyOffset"/>), at least <see cref="PaddedCapacity"/>(visible) x headDim.</param>
    /// <param name="values">The head's values, [positions, headDim].</param>
    /// <param name="visible">Positions the query may see.</param>
    /// <param name="query">The query, [headDim].</param>
    /// <param name="scale">1 / sqrt(headDim).</param>
    /// <param name="output">Receives [headDim].</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // Vector code is slow until tier-1; skip tiering.
    public static void Compute<T>(
        ReadOnlySpan<T> keys,
        ReadOnlySpan<T> values,
        int visible,
        ReadOnlySpan<float> query,
        float scale,
        Span<float> output)
        where T : unmanaged
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(Half))
        {
            throw new NotSupportedException($"KV cache elements are float or Half, not {typeof(T).Name}.");
        }

        int hd = query.Length;
        if (visible < 1 || keys.Length < hd * PaddedCapacity(visible) || values.Length < visible * hd || output.Length < hd)
        {
            throw new ArgumentException("Attention operands are smaller than headDim and visible require.");
        }

        Span<float> block = stackalloc float[BlockPositions];
        var acc = output[..hd];
        acc.Clear();
        float max = float.NegativeInfinity;
        float sum = 0;
        for (int s = 0; s < visible; s += BlockPositions)
        {
            int n = Math.Min(BlockPositions, visible - s);
            float blockMax = ScoreBlock(keys, s, n, query, scale, block);
            if (blockMax > max)
            {
                // Rescale what was summed under the old maximum (exp(-inf) = 0 on the first block).
                float correction = MathF.Exp(max - blockMax);
                if (s > 0)
                {
                    TensorPrimitives.Multiply(acc, correction, acc);
                }

                sum *= correction;
                max = blockMax;
            }

            sum += Exponentials(block, max);
            AccumulateValues(values, s, block[..n], acc);
        }

        TensorPrimitives.Multiply(acc, 1f / sum, acc);
    }

    // block[i] = scale * sum_c K[c, s + i] q[c] for i in [0, n), -inf for i in [n, BlockPositions); s is a multiple of
    // BlockPositions. Returns the largest.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float ScoreBlock<T>(ReadOnlySpan<T> keys, int s, int n, ReadOnlySpan<float> query, float scale, Span<float> block)
        where T : unmanaged
    {
        int hd = query.Length;
        int tileElements = hd * KeyTile;
        ref T tile = ref Unsafe.Add(ref MemoryMarshal.GetReference(keys), s / KeyTile * tileElements);
        ref float q = ref MemoryMarshal.GetReference(query);
        ref float outScores = ref MemoryMarshal.GetReference(block);
        if (n == BlockPositions)
        {
            // Two sets of four accumulators, even and odd channels: the FMAs' latency, not their throughput, bounded
            // one set (a chain of headDim dependent FMAs per tile).
            var a0 = Vector256<float>.Zero;
            var a1 = Vector256<float>.Zero;
            var a2 = Vector256<float>.Zero;
            var a3 = Vector256<float>.Zero;
            var b0 = Vector256<float>.Zero;
            var b1 = Vector256<float>.Zero;
            var b2 = Vector256<float>.Zero;
            var b3 = Vector256<float>.Zero;
            int c = 0;
            for (; c + 2 <= hd; c += 2)
            {
                var qc = Vector256.Create(Unsafe.Add(ref q, c));
                var qd = Vector256.Create(Unsafe.Add(ref q, c + 1));
                nuint at = (nuint)(c * KeyTile);
                Fma4(ref tile, at, (nuint)tileElements, qc, ref a0, ref a1, ref a2, ref a3);
                Fma4(ref tile, at + KeyTile, (nuint)tileElements, qd, ref b0, ref b1, ref b2, ref b3);
            }

            if (c < hd)
            {
                Fma4(ref tile, (nuint)(c * KeyTile), (nuint)tileElements, Vector256.Create(Unsafe.Add(ref q, c)), ref a0, ref a1, ref a2, ref a3);
            }

            a0 = (a0 + b0) * scale;
            a1 = (a1 + b1) * scale;
            a2 = (a2 + b2) * scale;
            a3 = (a3 + b3) * scale;
            a0.StoreUnsafe(ref outScores);
            a1.StoreUnsafe(ref outScores, KeyTile);
            a2.StoreUnsafe(ref outScores, 2 * KeyTile);
            a3.StoreUnsafe(ref outScores, 3 * KeyTile);
            return HorizontalMax(Vector256.Max(Vector256.Max(a0, a1), Vector256.Max(a2, a3)));
        }

        // The last, partial block: the tiles that hold positions, one accumulator each; every slot from n on
        // (stale numbers past visible, tiles past the last) becomes -inf, so its exponential is 0.
        var lanes = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        var count = Vector256.Create(n);
        var minusInfinity = Vector256.Create(float.NegativeInfinity);
        var blockMax = minusInfinity;
        for (int t = 0; t < BlockPositions / KeyTile; t++)
        {
            var scores = minusInfinity;
            if (t * KeyTile < n)
            {
                // Four accumulators over the channels, for the same reason as above.
                ref T first = ref Unsafe.Add(ref tile, t * tileElements);
                var acc = Vector256<float>.Zero;
                var acc1 = Vector256<float>.Zero;
                var acc2 = Vector256<float>.Zero;
                var acc3 = Vector256<float>.Zero;
                int c = 0;
                for (; c + 4 <= hd; c += 4)
                {
                    nuint at = (nuint)(c * KeyTile);
                    acc = Vector256.MultiplyAddEstimate(Load8(ref first, at), Vector256.Create(Unsafe.Add(ref q, c)), acc);
                    acc1 = Vector256.MultiplyAddEstimate(Load8(ref first, at + KeyTile), Vector256.Create(Unsafe.Add(ref q, c + 1)), acc1);
                    acc2 = Vector256.MultiplyAddEstimate(Load8(ref first, at + (2 * KeyTile)), Vector256.Create(Unsafe.Add(ref q, c + 2)), acc2);
                    acc3 = Vector256.MultiplyAddEstimate(Load8(ref first, at + (3 * KeyTile)), Vector256.Create(Unsafe.Add(ref q, c + 3)), acc3);
                }

                for (; c < hd; c++)
                {
                    acc = Vector256.MultiplyAddEstimate(Load8(ref first, (nuint)(c * KeyTile)), Vector256.Create(Unsafe.Add(ref q, c)), acc);
                }

                acc = (acc + acc1) + (acc2 + acc3);

                var inside = Vector256.LessThan(lanes + Vector256.Create(t * KeyTile), count).AsSingle();
                scores = Vector256.ConditionalSelect(inside, acc * scale, minusInfinity);
            }

            scores.StoreUnsafe(ref outScores, (nuint)(t * KeyTile));
            blockMax = Vector256.Max(blockMax, scores);
        }

        return HorizontalMax(blockMax);
    }

    // block[i] = exp(block[i] - max) for the whole block (-inf slots become 0), in registers; returns their sum.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Exponentials(Span<float> block, float max)
    {
        ref float first = ref MemoryMarshal.GetReference(block);
        var m = Vector256.Create(max);
        var e0 = Vector256.Exp(Vector256.LoadUnsafe(ref first) - m);
        var e1 = Vector256.Exp(Vector256.LoadUnsafe(ref first, KeyTile) - m);
        var e2 = Vector256.Exp(Vector256.LoadUnsafe(ref first, 2 * KeyTile) - m);
        var e3 = Vector256.Exp(Vector256.LoadUnsafe(ref first, 3 * KeyTile) - m);
        e0.StoreUnsafe(ref first);
        e1.StoreUnsafe(ref first, KeyTile);
        e2.StoreUnsafe(ref first, 2 * KeyTile);
        e3.StoreUnsafe(ref first, 3 * KeyTile);
        return Vector256.Sum((e0 + e1) + (e2 + e3));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalMax(Vector256<float> v)
    {
        var m = Vector128.Max(v.GetLower(), v.GetUpper());
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(2, 3, 0, 1)));
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(1, 0, 3, 2)));
        return m.ToScalar();
    }

    // acc[c] += sum_j p[j] V[s + j, c].
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AccumulateValues<T>(ReadOnlySpan<T> values, int s, ReadOnlySpan<float> p, Span<float> acc)
        where T : unmanaged
    {
        int hd = acc.Length;
        int n = p.Length;
        const int W = 8;
        ref T v = ref Unsafe.Add(ref MemoryMarshal.GetReference(values), s * hd);
        ref float weights = ref MemoryMarshal.GetReference(p);
        ref float o = ref MemoryMarshal.GetReference(acc);
        int c0 = 0;
        for (; c0 + (4 * W) <= hd; c0 += 4 * W)
        {
            // Even and odd positions in two sets of accumulators: two chains of n / 2 dependent FMAs instead of one of n.
            var a0 = Vector256.LoadUnsafe(ref o, (nuint)c0);
            var a1 = Vector256.LoadUnsafe(ref o, (nuint)(c0 + W));
            var a2 = Vector256.LoadUnsafe(ref o, (nuint)(c0 + (2 * W)));
            var a3 = Vector256.LoadUnsafe(ref o, (nuint)(c0 + (3 * W)));
            var b0 = Vector256<float>.Zero;
            var b1 = Vector256<float>.Zero;
            var b2 = Vector256<float>.Zero;
            var b3 = Vector256<float>.Zero;
            int j = 0;
            for (; j + 2 <= n; j += 2)
            {
                var pj = Vector256.Create(Unsafe.Add(ref weights, j));
                var pk = Vector256.Create(Unsafe.Add(ref weights, j + 1));
                nuint row = (nuint)((j * hd) + c0);
                Fma4(ref v, row, W, pj, ref a0, ref a1, ref a2, ref a3);
                Fma4(ref v, row + (nuint)hd, W, pk, ref b0, ref b1, ref b2, ref b3);
            }

            if (j < n)
            {
                Fma4(ref v, (nuint)((j * hd) + c0), W, Vector256.Create(Unsafe.Add(ref weights, j)), ref a0, ref a1, ref a2, ref a3);
            }

            (a0 + b0).StoreUnsafe(ref o, (nuint)c0);
            (a1 + b1).StoreUnsafe(ref o, (nuint)(c0 + W));
            (a2 + b2).StoreUnsafe(ref o, (nuint)(c0 + (2 * W)));
            (a3 + b3).StoreUnsafe(ref o, (nuint)(c0 + (3 * W)));
        }

        for (; c0 + W <= hd; c0 += W)
        {
            var a = Vector256.LoadUnsafe(ref o, (nuint)c0);
            for (int j = 0; j < n; j++)
            {
                a = Vector256.MultiplyAddEstimate(Load8(ref v, (nuint)((j * hd) + c0)), Vector256.Create(Unsafe.Add(ref weights, j)), a);
            }

            a.StoreUnsafe(ref o, (nuint)c0);
        }

        for (; c0 < hd; c0++)
        {
            float a = Unsafe.Add(ref o, c0);
            for (int j = 0; j < n; j++)
            {
                a += ToSingle(Unsafe.Add(ref v, (j * hd) + c0)) * Unsafe.Add(ref weights, j);
            }

            Unsafe.Add(ref o, c0) = a;
        }
    }

    // a_i += w * the 8 numbers at source + at + i * stride, for i in 0-3.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Fma4<T>(ref T source, nuint at, nuint stride, Vector256<float> w, ref Vector256<float> a0, ref Vector256<float> a1, ref Vector256<float> a2, ref Vector256<float> a3)
        where T : unmanaged
    {
        a0 = Vector256.MultiplyAddEstimate(Load8(ref source, at), w, a0);
        a1 = Vector256.MultiplyAddEstimate(Load8(ref source, at + stride), w, a1);
        a2 = Vector256.MultiplyAddEstimate(Load8(ref source, at + (2 * stride)), w, a2);
        a3 = Vector256.MultiplyAddEstimate(Load8(ref source, at + (3 * stride)), w, a3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Load8<T>(ref T source, nuint offset)
        where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            return Vector256.LoadUnsafe(ref Unsafe.As<T, float>(ref source), offset);
        }

        return HalfVectors.Widen(Vector128.LoadUnsafe(ref Unsafe.As<T, short>(ref source), offset));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ToSingle<T>(T value)
        where T : unmanaged =>
        typeof(T) == typeof(float) ? Unsafe.As<T, float>(ref value) : (float)Unsafe.As<T, Half>(ref value);
}
