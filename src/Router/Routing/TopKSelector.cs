namespace MoeServe.Router;

/// <summary>
/// Row-wise top-r selection by key s - q without sorting: an insertion list of the r best, which
/// for r much smaller than m touches each score once and shifts rarely. Ties keep the lower index
/// first, so results are deterministic.
/// </summary>
internal static class TopKSelector
{
    /// <summary>
    /// Writes the r best (key, index) pairs of one row, best first. <paramref name="q"/> empty means
    /// key = s (plain top-K).
    /// </summary>
    public static void SelectRow(ReadOnlySpan<float> row, ReadOnlySpan<float> q, int r, Span<float> bestKeys, Span<int> bestIndices)
    {
        if (q.IsEmpty)
        {
            SelectPlain(row, r, bestKeys, bestIndices);
        }
        else
        {
            SelectBiased(row, q, r, bestKeys, bestIndices);
        }
    }

    private static void SelectPlain(ReadOnlySpan<float> row, int r, Span<float> bestKeys, Span<int> bestIndices)
    {
        for (int j = 0; j < r; j++)
        {
            Insert(row[j], j, j, bestKeys, bestIndices);
        }

        float threshold = bestKeys[r - 1];
        for (int j = r; j < row.Length; j++)
        {
            float v = row[j];
            if (v > threshold)
            {
                Insert(v, j, r - 1, bestKeys, bestIndices);
                threshold = bestKeys[r - 1];
            }
        }
    }

    private static void SelectBiased(ReadOnlySpan<float> row, ReadOnlySpan<float> q, int r, Span<float> bestKeys, Span<int> bestIndices)
    {
        q = q[..row.Length];
        for (int j = 0; j < r; j++)
        {
            Insert(row[j] - q[j], j, j, bestKeys, bestIndices);
        }

        float threshold = bestKeys[r - 1];
        for (int j = r; j < row.Length; j++)
        {
            float v = row[j] - q[j];
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
