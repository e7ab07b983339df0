using MoeServe.Model.Quantization;

namespace MoeServe.Model.Tests.Quantization;

public sealed class BlockwiseQuantizerTests
{
    public static TheoryData<int, bool, int> Cases => new()
    {
        { 8, false, 64 },
        { 8, true, 64 },
        { 4, false, 64 },
        { 4, true, 64 },
        { 4, true, 80 },  // K not a multiple of the block: the last block is padded
        { 8, false, 40 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Quantize_RandomWeights_EveryElementWithinHalfAScale(int bits, bool zeroPoints, int k)
    {
        const int n = 12;
        float[] w = RandomWeights(n, k, seed: bits + k);
        var q = BlockwiseQuantizer.Quantize(w, n, k, bits, 32, zeroPoints);

        float[] independent = SpecDequantizer.Dequantize(q.Data, q.Scales, q.ZeroPoints, n, k, bits, 32);
        int blocks = (k + 31) / 32;
        for (int row = 0; row < n; row++)
        {
            for (int col = 0; col < k; col++)
            {
                float scale = q.Scales[(row * blocks) + (col / 32)];
                float error = Math.Abs(w[(row * k) + col] - independent[(row * k) + col]);
                Assert.True(error <= (scale / 2) * (1 + 1e-5f) + 1e-7f, $"row {row} col {col}: error {error} > scale/2 = {scale / 2}");
            }
        }

        // The project's own dequantizer reads the packing the same way as the one written from the spec.
        Assert.Equal(independent, BlockwiseQuantizer.Dequantize(q));
    }

    [Theory]
    [InlineData(8, false)]
    [InlineData(4, true)]
    public void Quantize_Layout_MatchesMatMulNBitsShapes(int bits, bool zeroPoints)
    {
        const int n = 5;
        const int k = 96;
        var q = BlockwiseQuantizer.Quantize(RandomWeights(n, k, 3), n, k, bits, 32, zeroPoints);
        Assert.Equal(n * 3 * (32 * bits / 8), q.Data.Length);
        Assert.Equal(n * 3, q.Scales.Length);
        Assert.Equal(zeroPoints ? n * (((3 * bits) + 7) / 8) : 0, q.ZeroPoints?.Length ?? 0);
    }

    [Fact]
    public void Quantize_Int4Symmetric_KnownBlockPacksLowNibbleFirst()
    {
        // max |w| = 7 so the scale is 1 and the codes are w + 8.
        float[] w = new float[32];
        w[0] = 1;
        w[1] = -7;
        w[2] = 7;
        var q = BlockwiseQuantizer.Quantize(w, 1, 32, 4, 32, zeroPoints: false);
        Assert.Equal(1f, q.Scales[0]);
        Assert.Equal(0x19, q.Data[0]); // codes 9 (low) and 1 (high)
        Assert.Equal(0x8F, q.Data[1]); // codes 15 (low) and 8 (high)
        Assert.All(q.Data.Skip(2), b => Assert.Equal(0x88, b));
    }

    [Fact]
    public void Quantize_ZeroBlock_DequantizesToZero()
    {
        var q = BlockwiseQuantizer.Quantize(new float[64], 2, 32, 4, 32, zeroPoints: true);
        Assert.All(BlockwiseQuantizer.Dequantize(q), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Quantize_BadBits_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => BlockwiseQuantizer.Quantize(new float[32], 1, 32, 3, 32, false));
        Assert.Throws<ArgumentOutOfRangeException>(() => BlockwiseQuantizer.Quantize(new float[32], 1, 32, 4, 24, false));
    }

    internal static float[] RandomWeights(int n, int k, int seed)
    {
        var random = new Random(seed);
        float[] w = new float[n * k];
        for (int i = 0; i < w.Length; i++)
        {
            // Mostly small, a few outliers, some blocks all positive: the cases that move scales and zero points.
            double v = (random.NextDouble() * 2) - 1;
            w[i] = (float)(i % 37 == 0 ? v * 5 : (i / k) % 3 == 2 ? Math.Abs(v) * 0.1 : v * 0.1);
        }

        return w;
    }
}

/// <summary>
/// MatMulNBits' dequantization written from the operator's description, independent of
/// <see cref="BlockwiseQuantizer"/>: B [N, ceil(K / block), block * bits / 8] with codes low bits first,
/// scales [N * blocks], zero points [N * ceil(blocks * bits / 8)] or the implicit 2^(bits-1).
/// </summary>
internal static class SpecDequantizer
{
    public static float[] Dequantize(byte[] b, float[] scales, byte[]? zeroPoints, int n, int k, int bits, int block)
    {
        int blocks = (k + block - 1) / block;
        int blob = block * bits / 8;
        int zpRow = ((blocks * bits) + 7) / 8;
        var w = new float[n * k];
        for (int row = 0; row < n; row++)
        {
            for (int col = 0; col < k; col++)
            {
                int blockIndex = col / block;
                int inBlock = col % block;
                int byteIndex = (row * blocks * blob) + (blockIndex * blob) + (inBlock * bits / 8);
                int code = bits == 8 ? b[byteIndex] : inBlock % 2 == 0 ? b[byteIndex] & 0x0F : b[byteIndex] >> 4;
                int zp;
                if (zeroPoints is null)
                {
                    zp = 1 << (bits - 1);
                }
                else if (bits == 8)
                {
                    zp = zeroPoints[(row * zpRow) + blockIndex];
                }
                else
                {
                    byte packed = zeroPoints[(row * zpRow) + (blockIndex / 2)];
                    zp = blockIndex % 2 == 0 ? packed & 0x0F : packed >> 4;
                }

                w[(row * k) + col] = (code - zp) * scales[(row * blocks) + blockIndex];
            }
        }

        return w;
    }
}
