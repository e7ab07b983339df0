namespace MoeServe.Runtime.Kernels;

/// <summary>
/// Rotate-half RoPE as the exported qkv graph applies it: for channel i of the first half and its partner i + hd/2,
/// (x_i, x_p) -> (x_i cos - x_p sin, x_p cos + x_i sin), the angle position x theta^(-2i/hd) in float64 and its
/// cosine and sine rounded to float32.
/// </summary>
internal sealed class RotaryEmbedding
{
    private readonly double[] _inverseFrequencies;
    private readonly float[] _cos;
    private readonly float[] _sin;

    public RotaryEmbedding(int headDim, double theta)
    {
        int half = headDim / 2;
        HeadDim = headDim;
        _inverseFrequencies = new double[half];
        for (int i = 0; i < half; i++)
        {
            _inverseFrequencies[i] = Math.Pow(theta, -2.0 * i / headDim);
        }

        _cos = new float[half];
        _sin = new float[half];
    }

    public int HeadDim { get; }

    /// <summary>Rotates <paramref name="count"/> heads [count, HeadDim] of one token at <paramref name="position"/> in place.</summary>
    public void Apply(Span<float> heads, int count, long position)
    {
        int half = HeadDim / 2;
        for (int i = 0; i < half; i++)
        {
            double angle = position * _inverseFrequencies[i];
            _cos[i] = (float)Math.Cos(angle);
            _sin[i] = (float)Math.Sin(angle);
        }

        for (int h = 0; h < count; h++)
        {
            var head = heads.Slice(h * HeadDim, HeadDim);
            for (int i = 0; i < half; i++)
            {
                float first = head[i];
                float second = head[half + i];
                head[i] = (first * _cos[i]) + (-second * _sin[i]);
                head[half + i] = (second * _cos[i]) + (first * _sin[i]);
            }
        }
    }
}
