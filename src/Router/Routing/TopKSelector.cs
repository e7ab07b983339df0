using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MoeServe.Router;

/// <summary>
/// Row-wise top-r selection by key s - q without sorting, deterministic (ties keep the lower index
/// first). Fast path (rows whose length is a multiple of 8, r &lt;= 32, no NaN): a vector pass finds a
/// threshold that at least r keys reach (the minimum of 8P group maxima), a branch-free pass keeps
/// the few keys above it, and each survivor's rank is counted with vector compares, so there are no
/// data-dependent branches to mispredict. Other rows use an insertion list of the r best.
/// </summary>
internal static class TopKSelector
{
    private const int MaxFastR = 16;
    private const int MaxFastRow = 512;

    /// <summary>
    /// Writes the r best (key, index) pairs of one row, best first. <paramref name="q"/> empty means
    /// key = s (plain top-K).
    /// </summary>
    public static void SelectRow(ReadOnlySpan<float> row, ReadOnlySpan<float> q, int r, Span<float> bestKeys, Span<int> bestIndices)
    {
        int m = row.Length;
        if (Vector256.IsHardwareAccelerated && m % 8 == 0 && m <= MaxFastRow && r <= MaxFastR && (r <= 8 || m >= 16)
            && SelectVectorized(row, q, r, bestKeys, bestIndices))
        {
            return;
        }

        SelectInsertion(row, q, r, bestKeys, bestIndices);
    }

    private static bool SelectVectorized(ReadOnlySpan<float> row, ReadOnlySpan<float> q, int r, Span<float> bestKeys, Span<int> bestIndices)
    {
        int m = row.Length;
        int vectors = m / 8;
        Span<float> keys = stackalloc float[m];

        // Keys, per-lane largest and second largest, and a NaN check in one pass.
        ref float s0 = ref Unsafe.AsRef(in row[0]);
        ref float k0 = ref keys[0];
        bool biased = !q.IsEmpty;
        ref float q0 = ref biased ? ref Unsafe.AsRef(in q[0]) : ref s0;
        Vector256<float> max1 = Vector256.Create(float.NegativeInfinity);
        Vector256<float> max2 = max1;
        bool ordered = true;
        for (int v = 0; v < vectors; v++)
        {
            Vector256<float> x = Vector256.LoadUnsafe(ref s0, (nuint)(v * 8));
            if (biased)
            {
                x -= Vector256.LoadUnsafe(ref q0, (nuint)(v * 8));
            }

            ordered &= Vector256.EqualsAll(x, x);
            x.StoreUnsafe(ref k0, (nuint)(v * 8));
            max2 = Vector256.Max(max2, Vector256.Min(max1, x));
            max1 = Vector256.Max(max1, x);
        }

        if (!ordered)
        {
            return false;
        }

        // The 8 lane maxima are 8 distinct keys >= min(max1); each lane's second largest is a further
        // distinct key, so the (r-8)-th largest second maximum lowers the bound just enough for r <= 16.
        float t = HorizontalMin(max1);
        if (r == 9)
        {
            t = Math.Min(t, -HorizontalMin(-max2));
        }
        else if (r > 9)
        {
            Span<float> seconds = stackalloc float[8];
            max2.CopyTo(seconds);
            seconds.Sort();
            t = Math.Min(t, seconds[8 - (r - 8)]);
        }


        // Survivors: every key >= t (at least r of them: the 8 * parts group maxima). Branch-free append.
        Span<float> cand = stackalloc float[m + 8];
        Span<int> candIdx = stackalloc int[m + 8];
        int c = 0;
        for (int j = 0; j < m; j++)
        {
            float key = keys[j];
            cand[c] = key;
            candIdx[c] = j;
            c += key >= t ? 1 : 0;
        }

        int padded = (c + 7) & ~7;
        cand[c..padded].Fill(float.NegativeInfinity);

        // Rank of each survivor = keys strictly greater + equal keys at a lower position, accumulated
        // for 8 survivors at a time: ranks[a] += (key[b] > key[a]) | (key[b] == key[a] & b < a).
        Span<int> ranks = stackalloc int[padded];
        ref float c0 = ref cand[0];
        Vector256<int> laneIndex = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        for (int a0 = 0; a0 < padded; a0 += 8)
        {
            Vector256<float> va = Vector256.LoadUnsafe(ref c0, (nuint)a0);
            Vector256<int> aIndex = laneIndex + Vector256.Create(a0);
            Vector256<int> rank = Vector256<int>.Zero;
            for (int b = 0; b < c; b++)
            {
                Vector256<float> vb = Vector256.Create(cand[b]);
                Vector256<float> before = Vector256.GreaterThan(aIndex, Vector256.Create(b)).AsSingle();
                Vector256<float> wins = Vector256.GreaterThan(vb, va) | (Vector256.Equals(vb, va) & before);
                rank -= wins.AsInt32();
            }

            rank.StoreUnsafe(ref ranks[0], (nuint)a0);
        }

        Span<float> outKeys = stackalloc float[r + 1];
        Span<int> outIdx = stackalloc int[r + 1];
        for (int a = 0; a < c; a++)
        {
            int slot = Math.Min(ranks[a], r);
            outKeys[slot] = cand[a];
            outIdx[slot] = candIdx[a];
        }

        outKeys[..r].CopyTo(bestKeys);
        outIdx[..r].CopyTo(bestIndices);
        return true;
    }

    private static float HorizontalMin(Vector256<float> v)
    {
        Vector128<float> m = Vector128.Min(v.GetLower(), v.GetUpper());
        float a = Math.Min(m.GetElement(0), m.GetElement(1));
        float b = Math.Min(m.GetElement(2), m.GetElement(3));
        return Math.Min(a, b);
    }

    /// <summary>The scalar reference path (also used for odd row lengths and NaN rows).</summary>
    internal static void SelectInsertion(ReadOnlySpan<float> row, ReadOnlySpan<float> q, int r, Span<float> bestKeys, Span<int> bestIndices)
    {
        bool biased = !q.IsEmpty;
        for (int j = 0; j < r; j++)
        {
            Insert(biased ? row[j] - q[j] : row[j], j, j, bestKeys, bestIndices);
        }

        float threshold = bestKeys[r - 1];
        for (int j = r; j < row.Length; j++)
        {
            float v = biased ? row[j] - q[j] : row[j];
            if (v > threshold)
            {
                Insert(v, j, r - 1, bestKeys, bestIndices);
                threshold = bestKeys[r - 1];
            }
        }
    }

    // Places (v, index) at position `last` and bubbles it up past strictly smaller keys.
    private static void Insert(float v, int index, int last, Span<float> keys, Span<int> indices)
    {
        int pos = last;
        while (pos > 0 && keys[pos - 1] < v)
        {
            keys[pos] = keys[pos - 1];
            indices[pos] = indices[pos - 1];
            pos--;
        }

        keys[pos] = v;
        indices[pos] = index;
    }
}
