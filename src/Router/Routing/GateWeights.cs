namespace MoeServe.Router;

/// <summary>Gate weights from the UNBIASED scores s of the chosen experts (never from s - q).</summary>
internal static class GateWeights
{
    public static void Fill(ReadOnlySpan<float> scores, RoutingShape shape, ReadOnlySpan<int> experts, Span<float> gates, bool renormalize)
    {
        int m = shape.Experts;
        int k = shape.TopK;
        for (int i = 0; i < shape.Tokens; i++)
        {
            ReadOnlySpan<float> row = scores.Slice(i * m, m);
            Span<float> g = gates.Slice(i * k, k);
            ReadOnlySpan<int> e = experts.Slice(i * k, k);
            float sum = 0f;
            for (int t = 0; t < k; t++)
            {
                float v = row[e[t]];
                g[t] = v;
                sum += v;
            }

            if (!renormalize)
            {
                continue;
            }

            if (sum > 0f && float.IsFinite(sum))
            {
                float inv = 1f / sum;
                for (int t = 0; t < k; t++)
                {
                    g[t] *= inv;
                }
            }
            else
            {
                // All chosen scores underflowed to 0 (possible with sigmoid): share equally rather than divide by 0.
                g.Fill(1f / k);
            }
        }
    }
}
