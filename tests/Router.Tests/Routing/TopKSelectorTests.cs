using CsCheck;

namespace MoeServe.Router.Tests.Routing;

/// <summary>The vectorised row selection must agree exactly with the scalar reference.</summary>
public class TopKSelectorTests
{
    [Fact]
    public void SelectRow_VectorPath_MatchesInsertionReference()
    {
        var gen =
            from m in Gen.OneOf(8, 16, 24, 32, 64, 128)
            from r in Gen.Int[1, Math.Min(m, 20)]
            from levels in Gen.OneOf(0, 3, 1000)
            from seed in Gen.Int[0, 1_000_000]
            from biased in Gen.Bool
            select (m, r, levels, seed, biased);

        gen.Sample(x =>
        {
            var rng = new Random(x.seed);
            float[] row = [.. Enumerable.Range(0, x.m).Select(_ => x.levels == 0 ? rng.NextSingle() : rng.Next(x.levels) / (float)x.levels)];
            float[] q = x.biased ? [.. Enumerable.Range(0, x.m).Select(_ => (rng.NextSingle() - 0.5f) * 0.3f)] : [];
            var keys = new float[x.r];
            var idx = new int[x.r];
            var refKeys = new float[x.r];
            var refIdx = new int[x.r];

            TopKSelector.SelectRow(row, q, x.r, keys, idx);
            TopKSelector.SelectInsertion(row, q, x.r, refKeys, refIdx);

            Assert.Equal(refIdx, idx);
            Assert.Equal(refKeys, keys);
        }, iter: 2000, print: x => x.ToString());
    }

    [Fact]
    public void SelectRow_NaNInRow_StillReturnsDistinctIndices()
    {
        float[] row = [.. Enumerable.Range(0, 16).Select(i => i == 3 ? float.NaN : i / 16f)];
        var keys = new float[4];
        var idx = new int[4];

        TopKSelector.SelectRow(row, [], 4, keys, idx);

        Assert.Equal(4, idx.Distinct().Count());
    }
}
