using MoeServe.Model.Reference;
using MoeServe.Runtime.Attention;

namespace MoeServe.Runtime.Tests.Attention;

public sealed class HeadAttentionTests
{
    [Theory]
    [InlineData(32, 64, 1)]
    [InlineData(32, 64, 37)]
    [InlineData(6, 13, 11)]
    [InlineData(20, 40, 40)]
    [InlineData(32, 256, 32)]
    [InlineData(32, 256, 163)]
    [InlineData(128, 256, 200)]
    [InlineData(40, 100, 65)]
    [InlineData(7, 80, 67)]
    [InlineData(34, 80, 35)]
    public void Compute_Float32Cache_MatchesReferenceAttention(int headDim, int capacity, int visible)
    {
        // Sizes that are and are not multiples of the vector width and of the 32-position block exercise the
        // whole blocks, the partial last block, the tile tails and the channel tails (odd channel counts, and counts
        // that are not multiples of 4, for the split accumulators; an odd number of positions in a block).
        var (query, keysByPosition, valuesByPosition) = RandomHead(headDim, visible, seed: headDim + visible, spread: 4);
        var (keys, values) = Lay<float>(keysByPosition, valuesByPosition, headDim, capacity, visible, x => x, float.NaN);

        float[] output = new float[headDim];
        HeadAttention.Compute<float>(keys, values, visible, query, 1f / MathF.Sqrt(headDim), output);

        // The reference with one head: the single query is the sequence's last token, so it sees all positions.
        float[] expected = ReferenceMoeModel.CausalAttention(query, keysByPosition, valuesByPosition, heads: 1, headDim);
        AssertClose(expected, output, 1e-5f);
    }

    [Theory]
    [InlineData(32, 64, 1)]
    [InlineData(32, 256, 100)]
    [InlineData(6, 13, 11)]
    [InlineData(128, 256, 200)]
    public void Compute_Float16Cache_MatchesReferenceOnTheStoredNumbers(int headDim, int capacity, int visible)
    {
        // Widening in registers is exact: attention over the float16 cache equals the reference over the
        // float16-rounded keys and values, to float32 rounding.
        var (query, keysByPosition, valuesByPosition) = RandomHead(headDim, visible, seed: 7 * visible, spread: 4);
        var (keys, values) = Lay(keysByPosition, valuesByPosition, headDim, capacity, visible, HalfVectors.Encode, Half.NaN);

        float[] output = new float[headDim];
        HeadAttention.Compute<Half>(keys, values, visible, query, 1f / MathF.Sqrt(headDim), output);

        float[] roundedKeys = keysByPosition.Select(x => (float)HalfVectors.Encode(x)).ToArray();
        float[] roundedValues = valuesByPosition.Select(x => (float)HalfVectors.Encode(x)).ToArray();
        AssertClose(ReferenceMoeModel.CausalAttention(query, roundedKeys, roundedValues, heads: 1, headDim), output, 1e-5f);
    }

    [Theory]
    [InlineData(32, 160)]
    [InlineData(64, 33)]
    public void Compute_Float16Cache_StaysWithinHalfPrecisionOfFloat32(int headDim, int visible)
    {
        // What float16 storage costs: keys and values of magnitude up to 2 carry a relative error of at most
        // 2^-11; the output (a convex combination of values) moves by far less than 1e-2.
        var (query, keysByPosition, valuesByPosition) = RandomHead(headDim, visible, seed: 11, spread: 4);
        var (keys32, values32) = Lay<float>(keysByPosition, valuesByPosition, headDim, visible, visible, x => x, 0f);
        var (keys16, values16) = Lay(keysByPosition, valuesByPosition, headDim, visible, visible, HalfVectors.Encode, (Half)0f);
        float[] out32 = new float[headDim];
        float[] out16 = new float[headDim];
        float scale = 1f / MathF.Sqrt(headDim);
        HeadAttention.Compute<float>(keys32, values32, visible, query, scale, out32);
        HeadAttention.Compute<Half>(keys16, values16, visible, query, scale, out16);
        AssertClose(out32, out16, 2e-3f);
        Assert.NotEqual(out32, out16); // the float16 path really rounds
    }

    [Fact]
    public void Compute_PeakedScoresInALateBlock_RescalesEarlierBlocks()
    {
        // The running maximum grows in the last block by a lot: the earlier blocks' sums must be rescaled,
        // not overflow or dominate. The output is then (almost exactly) the value at the peaked position.
        const int headDim = 8;
        const int visible = 70;
        float[] query = Enumerable.Repeat(1f, headDim).ToArray();
        float[] keysByPosition = new float[visible * headDim];
        float[] valuesByPosition = new float[visible * headDim];
        for (int s = 0; s < visible; s++)
        {
            for (int c = 0; c < headDim; c++)
            {
                keysByPosition[(s * headDim) + c] = s == 66 ? 40f : (s % 5) * 0.1f;
                valuesByPosition[(s * headDim) + c] = s + (c * 0.01f);
            }
        }

        var (keys, values) = Lay<float>(keysByPosition, valuesByPosition, headDim, visible, visible, x => x, 0f);
        float[] output = new float[headDim];
        HeadAttention.Compute<float>(keys, values, visible, query, 1f / MathF.Sqrt(headDim), output);
        AssertClose(ReferenceMoeModel.CausalAttention(query, keysByPosition, valuesByPosition, heads: 1, headDim), output, 1e-5f);
        Assert.Equal(66f, output[0], 3);
    }

    [Fact]
    public void Compute_UnsupportedElementTypeOrShortBuffers_Throws()
    {
        Assert.Throws<NotSupportedException>(() => HeadAttention.Compute<double>(new double[64], new double[64], 1, new float[8], 1f, new float[8]));
        Assert.Throws<ArgumentException>(() => HeadAttention.Compute<float>(new float[8 * 8], new float[8 * 9], 9, new float[8], 1f, new float[8]));
    }

    private static (float[] Query, float[] Keys, float[] Values) RandomHead(int headDim, int visible, int seed, float spread)
    {
        var random = new Random(seed);
        float Next(float width) => (float)((random.NextDouble() * width) - (width / 2));
        float[] query = Enumerable.Range(0, headDim).Select(_ => Next(spread)).ToArray();
        float[] keys = Enumerable.Range(0, visible * headDim).Select(_ => Next(2)).ToArray();
        float[] values = Enumerable.Range(0, visible * headDim).Select(_ => Next(2)).ToArray();
        return (query, keys, values);
    }

    // The cache layouts: keys in tiles of positions (KeyOffset), values [capacity, headDim]; slots past visible hold garbage.
    private static (T[] Keys, T[] Values) Lay<T>(float[] keysByPosition, float[] valuesByPosition, int headDim, int capacity, int visible, Func<float, T> convert, T garbage)
    {
        T[] keys = Enumerable.Repeat(garbage, headDim * HeadAttention.PaddedCapacity(capacity)).ToArray();
        T[] values = Enumerable.Repeat(garbage, headDim * capacity).ToArray();
        for (int s = 0; s < visible; s++)
        {
            for (int c = 0; c < headDim; c++)
            {
                keys[HeadAttention.KeyOffset(s, c, headDim)] = convert(keysByPosition[(s * headDim) + c]);
                values[(s * headDim) + c] = convert(valuesByPosition[(s * headDim) + c]);
            }
        }

        return (keys, values);
    }

    private static void AssertClose(float[] expected, float[] actual, float tolerance)
    {
        for (int c = 0; c < expected.Length; c++)
        {
            Assert.True(Math.Abs(expected[c] - actual[c]) <= tolerance * Math.Max(1f, Math.Abs(expected[c])), $"channel {c}: {expected[c]} vs {actual[c]}");
        }
    }
}
