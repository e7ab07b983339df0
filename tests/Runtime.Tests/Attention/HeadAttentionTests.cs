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

    [Theory]
    [InlineData(32, 256, 1)]
    [InlineData(32, 256, 100)]
    [InlineData(32, 256, 163)]
    [InlineData(6, 13, 11)]
    public void Compute_AnyShape_EqualsInOrderScalarSumsBitForBit(int headDim, int capacity, int visible)
    {
        // The vector kernel keeps each score's and each output channel's sum in the scalar order
        // (channels ascending, positions ascending): its results are the same bits as plain loops.
        var random = new Random(visible);
        float[] query = Enumerable.Range(0, headDim).Select(_ => (float)((random.NextDouble() * 4) - 2)).ToArray();
        float[] keys = new float[headDim * HeadAttention.PaddedCapacity(capacity)];
        float[] values = new float[headDim * capacity];
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i] = (float)((random.NextDouble() * 2) - 1);
        }

        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)((random.NextDouble() * 2) - 1);
        }

        float scale = 1f / MathF.Sqrt(headDim);
        float[] output = new float[headDim];
        HeadAttention.Compute(keys, values, visible, query, scale, new float[capacity], new float[capacity], output);

        float[] scores = new float[visible];
        for (int s = 0; s < visible; s++)
        {
            float dot = 0;
            for (int c = 0; c < headDim; c++)
            {
                dot += keys[HeadAttention.KeyOffset(s, c, headDim)] * query[c];
            }

            scores[s] = dot * scale;
        }

        float[] p = new float[visible];
        System.Numerics.Tensors.TensorPrimitives.SoftMax(scores, p);
        for (int c = 0; c < headDim; c++)
        {
            float sum = 0;
            for (int j = 0; j < visible; j++)
            {
                sum += values[(j * headDim) + c] * p[j];
            }

            Assert.Equal(BitConverter.SingleToInt32Bits(sum), BitConverter.SingleToInt32Bits(output[c]));
        }
    }
}
