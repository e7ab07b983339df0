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
    public void Compute_AnyHeadDimAndVisibleCount_MatchesReferenceAttention(int headDim, int capacity, int visible)
    {
        // Sizes that are and are not multiples of the vector width exercise the vector loops and their tails.
        var random = new Random(headDim + visible);
        float[] query = Enumerable.Range(0, headDim).Select(_ => (float)((random.NextDouble() * 4) - 2)).ToArray();
        float[] keysByPosition = Enumerable.Range(0, visible * headDim).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
        float[] valuesByPosition = Enumerable.Range(0, visible * headDim).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();

        // Cache layouts: keys in tiles of positions (KeyOffset), values [capacity, headDim]; slots past visible hold garbage.
        float[] keys = Enumerable.Repeat(float.NaN, headDim * HeadAttention.PaddedCapacity(capacity)).ToArray();
        float[] values = Enumerable.Repeat(float.NaN, headDim * capacity).ToArray();
        for (int s = 0; s < visible; s++)
        {
            for (int c = 0; c < headDim; c++)
            {
                keys[HeadAttention.KeyOffset(s, c, headDim)] = keysByPosition[(s * headDim) + c];
                values[(s * headDim) + c] = valuesByPosition[(s * headDim) + c];
            }
        }

        float[] output = new float[headDim];
        HeadAttention.Compute(keys, values, visible, query, 1f / MathF.Sqrt(headDim), new float[capacity], new float[capacity], output);

        // The reference with one head: the single query is the sequence's last token, so it sees all positions.
        float[] expected = ReferenceMoeModel.CausalAttention(query, keysByPosition, valuesByPosition, heads: 1, headDim);
        for (int c = 0; c < headDim; c++)
        {
            Assert.True(Math.Abs(expected[c] - output[c]) < 1e-5f, $"channel {c}: {expected[c]} vs {output[c]}");
        }
    }
}
