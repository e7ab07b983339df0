using MoeServe.Model.Gguf;
using MoeServe.Model.Quantization;

namespace MoeServe.Model.Tests.Quantization;

/// <summary>
/// GGUF Q8_0 / Q4_0 blocks copied into MatMulNBits' layout dequantize to exactly llama.cpp's values
/// (GgmlDequantizer follows ggml's dequantize_row_*), and ONNX Runtime's operator reads them so.
/// </summary>
public sealed class GgmlBlockCopierTests
{
    [Theory]
    [InlineData(GgmlType.Q8_0, 8)]
    [InlineData(GgmlType.Q4_0, 4)]
    [InlineData(GgmlType.Q4_0, 8)]
    public void Copy_GgmlBlocks_DequantizeBitExactlyToGgmlValues(GgmlType type, int bits)
    {
        const int n = 24;
        const int k = 96;
        byte[] blocks = GgufWriter.Encode(type, BlockwiseQuantizerTests.RandomWeights(n, k, seed: 5));
        float[] ggml = new float[n * k];
        GgmlDequantizer.ToFloat32(type, blocks, ggml);

        var copied = GgmlBlockCopier.Copy(type, blocks, n, k, bits);

        Assert.Null(copied.ZeroPoints);
        float[] spec = SpecDequantizer.Dequantize(copied.Data, copied.Scales, null, n, k, bits, 32);
        AssertBitEqual(ggml, spec);
        if (type == GgmlType.Q4_0)
        {
            // ggml's reference Q4_0 quantizer stores d = max / -8: the lossless copy relies on negative scales.
            Assert.Contains(copied.Scales, s => s < 0);
        }
    }

    [Fact]
    public void Copy_RowOrder_MovesWholeRowsOfBlocks()
    {
        const int n = 8;
        const int k = 64;
        byte[] blocks = GgufWriter.Encode(GgmlType.Q4_0, BlockwiseQuantizerTests.RandomWeights(n, k, seed: 6));
        float[] ggml = new float[n * k];
        GgmlDequantizer.ToFloat32(GgmlType.Q4_0, blocks, ggml);
        int[] order = [7, 0, 6, 1, 5, 2, 4, 3];

        float[] copied = BlockwiseQuantizer.Dequantize(GgmlBlockCopier.Copy(GgmlType.Q4_0, blocks, n, k, 4, order));

        for (int row = 0; row < n; row++)
        {
            AssertBitEqual(ggml.AsSpan(order[row] * k, k).ToArray(), copied.AsSpan(row * k, k).ToArray());
        }
    }

    [Theory]
    [InlineData(GgmlType.Q8_0, 8, 1)]
    [InlineData(GgmlType.Q4_0, 4, 1)]
    [InlineData(GgmlType.Q4_0, 4, 4)]
    public void MatMulNBits_CopiedBlocks_MatchFloatMatMul(GgmlType type, int bits, int accuracyLevel)
    {
        byte[] blocks = GgufWriter.Encode(type, BlockwiseQuantizerTests.RandomWeights(48, 64, seed: 8));
        MatMulNBitsOperatorTests.CheckAgainstFloat(GgmlBlockCopier.Copy(type, blocks, 48, 64, bits), accuracyLevel);
    }

    [Fact]
    public void Copy_Q8_0ToFourBits_IsRefused()
    {
        Assert.False(GgmlBlockCopier.CanCopy(GgmlType.Q8_0, 4));
        Assert.False(GgmlBlockCopier.CanCopy(GgmlType.Q4_K, 4));
        byte[] blocks = GgufWriter.Encode(GgmlType.Q8_0, new float[64]);
        Assert.Throws<ArgumentException>(() => GgmlBlockCopier.Copy(GgmlType.Q8_0, blocks, 1, 64, 4));
    }

    [Fact]
    public void StackRows_MixedZeroPoints_WritesTheImplicitOnesOut()
    {
        float[] a = BlockwiseQuantizerTests.RandomWeights(4, 64, seed: 1);
        float[] b = BlockwiseQuantizerTests.RandomWeights(6, 64, seed: 2);
        var copied = GgmlBlockCopier.Copy(GgmlType.Q4_0, GgufWriter.Encode(GgmlType.Q4_0, a), 4, 64, 4);
        var quantized = BlockwiseQuantizer.Quantize(b, 6, 64, 4, 32, zeroPoints: true);

        var stacked = BlockQuantizedMatrix.StackRows([copied, quantized]);

        Assert.Equal(10, stacked.N);
        Assert.NotNull(stacked.ZeroPoints);
        AssertBitEqual([.. BlockwiseQuantizer.Dequantize(copied), .. BlockwiseQuantizer.Dequantize(quantized)], BlockwiseQuantizer.Dequantize(stacked));
    }

    private static void AssertBitEqual(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]), $"element {i}: {expected[i]:R} vs {actual[i]:R}");
        }
    }
}
