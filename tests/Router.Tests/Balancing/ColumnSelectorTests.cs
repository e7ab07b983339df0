using CsCheck;

using MoeServe.Router.Tests.Support;

namespace MoeServe.Router.Tests.Balancing;

/// <summary>The bracketed column statistics must equal a full sort, whether the bracket hits or misses.</summary>
public class ColumnSelectorTests
{
    [Fact]
    public void Compute_RepeatedDriftingBatches_EqualsSortedReference()
    {
        var gen =
            from n in Gen.Int[2, 300]
            from m in Gen.OneOf(3, 8, 16, 32)
            from k in Gen.Int[1, 3]
            from seed in Gen.Int[0, 1_000_000]
            from quantile in Gen.Bool
            from clip in Gen.Bool
            select (n, m, k: Math.Min(k, m), seed, quantile, clip);

        gen.Sample(x =>
        {
            var selector = new ColumnSelector();
            var shape = new RoutingShape(x.n, x.m, x.k);
            var rng = new Random(x.seed);
            var result = new float[x.m];
            double h = (1.0 - ((double)x.k / x.m)) * (x.n - 1);
            int ascIndex = x.quantile ? (int)Math.Floor(h) : Math.Max(0, x.n - shape.BalancedCapacity - 1);
            float fraction = x.quantile ? (float)(h - Math.Floor(h)) : 0f;
            for (int batch = 0; batch < 6; batch++)
            {
                // Batch sizes vary (as at serving): brackets carry over between sizes.
                int n = batch % 3 == 2 ? Math.Max(2, x.n / 2) : x.n;
                shape = new RoutingShape(n, x.m, x.k);
                h = (1.0 - ((double)x.k / x.m)) * (n - 1);
                ascIndex = x.quantile ? (int)Math.Floor(h) : Math.Max(0, n - shape.BalancedCapacity - 1);
                fraction = x.quantile ? (float)(h - Math.Floor(h)) : 0f;
                float[] s = Workloads.Softmax(n, x.m, x.seed + batch);
                float[] p = [.. Enumerable.Range(0, n).Select(_ => (rng.NextSingle() - 0.3f) * 0.05f)];

                selector.Compute(s, p, shape, ascIndex, fraction, result, slot: batch % 2, clipAtZero: x.clip);

                for (int j = 0; j < x.m; j++)
                {
                    float[] column = [.. Enumerable.Range(0, n).Select(i => s[(i * x.m) + j] - p[i]).Order()];
                    float expected = column[ascIndex];
                    if (fraction > 0f && ascIndex + 1 < n)
                    {
                        expected += fraction * (column[ascIndex + 1] - column[ascIndex]);
                    }

                    if (x.clip)
                    {
                        Assert.Equal(Math.Max(0f, expected), Math.Max(0f, result[j]));
                    }
                    else
                    {
                        Assert.Equal(expected, result[j]);
                    }
                }
            }
        }, iter: 300, print: x => x.ToString());
    }
}
