using System.Buffers.Binary;
using MoeServe.Model.Gguf;

namespace MoeServe.Import.Tests.Gguf;

/// <summary>Hand-built blocks, decoded by hand from the layouts in ggml-common.h.</summary>
public sealed class GgmlDequantizerTests
{
    private static void Half(byte[] b, int offset, float v) => BinaryPrimitives.WriteHalfLittleEndian(b.AsSpan(offset), (Half)v);

    [Fact]
    public void Q8_0_Block_IsScaleTimesSignedBytes()
    {
        var b = new byte[34];
        Half(b, 0, 0.5f);
        for (int j = 0; j < 32; j++)
        {
            b[2 + j] = (byte)(sbyte)(j * 8 - 128);
        }
        var y = new float[32];
        GgmlDequantizer.ToFloat32(GgmlType.Q8_0, b, y);
        Assert.Equal(Enumerable.Range(0, 32).Select(j => (j * 8 - 128) * 0.5f), y);
    }

    [Fact]
    public void Q4_0_Block_LowNibblesFirstHalfHighNibblesSecondHalf()
    {
        var b = new byte[18];
        Half(b, 0, 2f);
        for (int j = 0; j < 16; j++)
        {
            b[2 + j] = (byte)(j | ((15 - j) << 4));
        }
        var y = new float[32];
        GgmlDequantizer.ToFloat32(GgmlType.Q4_0, b, y);
        for (int j = 0; j < 16; j++)
        {
            Assert.Equal((j - 8) * 2f, y[j]);
            Assert.Equal((15 - j - 8) * 2f, y[j + 16]);
        }
    }

    [Fact]
    public void Q4_K_Block_SixBitScalesAndMinsPerSubBlock()
    {
        var b = new byte[144];
        Half(b, 0, 1f);    // d
        Half(b, 2, 0.5f);  // dmin
        // scales[0..3] = 0b01_000011: scale 3 for sub-blocks 0..3, top bits 01 -> bit 4 of scales 4..7.
        // scales[4..7] = 0b10_000101: min 5 for sub-blocks 0..3, top bits 10 -> bit 5 of mins 4..7.
        // scales[8..11] = 0x72: low nibble 2 -> scale 2|16 = 18, high nibble 7 -> min 7|32 = 39 for 4..7.
        for (int j = 0; j < 4; j++)
        {
            b[4 + j] = 0b01_000011;
            b[8 + j] = 0b10_000101;
            b[12 + j] = 0x72;
        }
        for (int j = 0; j < 128; j++)
        {
            b[16 + j] = 0xA3; // low nibble 3, high nibble 10
        }
        var y = new float[256];
        GgmlDequantizer.ToFloat32(GgmlType.Q4_K, b, y);
        int[] sc = [3, 3, 3, 3, 18, 18, 18, 18];
        int[] mn = [5, 5, 5, 5, 39, 39, 39, 39];
        for (int i = 0; i < 256; i++)
        {
            // 64-element chunk c: 32 low nibbles (sub-block 2c), then 32 high nibbles (sub-block 2c+1).
            int c = i / 64;
            bool high = i % 64 >= 32;
            int s = 2 * c + (high ? 1 : 0);
            float expected = 1f * sc[s] * (high ? 10 : 3) - 0.5f * mn[s];
            Assert.Equal(expected, y[i]);
        }
    }

    [Fact]
    public void Q6_K_Block_LowNibblesHighBitPairsAndSignedScales()
    {
        var b = new byte[210];
        for (int j = 0; j < 128; j++)
        {
            b[j] = 0x21; // ql: low nibble 1, high nibble 2
        }
        for (int j = 0; j < 64; j++)
        {
            b[128 + j] = 0b11_10_01_00; // qh: 2-bit pairs 0, 1, 2, 3
        }
        for (int k = 0; k < 16; k++)
        {
            b[192 + k] = (byte)(sbyte)(k - 8);
        }
        Half(b, 208, 0.25f);
        var y = new float[256];
        GgmlDequantizer.ToFloat32(GgmlType.Q6_K, b, y);
        // q = (4 low bits | 2 high bits << 4) - 32 for the four 32-element quarters of each 128 half.
        int[] q = [(1 | 0 << 4) - 32, (1 | 1 << 4) - 32, (2 | 2 << 4) - 32, (2 | 3 << 4) - 32];
        for (int i = 0; i < 256; i++)
        {
            int half = i / 128;
            int quarter = i % 128 / 32;
            int l = i % 32;
            int scale = half * 8 + l / 16 + 2 * quarter - 8;
            Assert.Equal(0.25f * scale * q[quarter], y[i]);
        }
    }

    [Fact]
    public void F16AndBF16_Decode()
    {
        var h = new byte[4];
        Half(h, 0, -1.5f);
        Half(h, 2, 65504f);
        var y = new float[2];
        GgmlDequantizer.ToFloat32(GgmlType.F16, h, y);
        Assert.Equal([-1.5f, 65504f], y);
        var bf = new byte[4];
        BinaryPrimitives.WriteUInt16LittleEndian(bf, (ushort)(BitConverter.SingleToUInt32Bits(3.140625f) >> 16));
        BinaryPrimitives.WriteUInt16LittleEndian(bf.AsSpan(2), (ushort)(BitConverter.SingleToUInt32Bits(-2f) >> 16));
        GgmlDequantizer.ToFloat32(GgmlType.BF16, bf, y);
        Assert.Equal([3.140625f, -2f], y);
    }

    [Theory]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.IQ2_XXS)]
    [InlineData(GgmlType.Q4_1)]
    public void Unsupported_Type_IsRefusedByName(GgmlType type)
    {
        var e = Assert.Throws<NotSupportedException>(() => GgmlDequantizer.ToFloat32(type, new byte[64], new float[32]));
        Assert.Contains(type.ToString(), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WrongSourceLength_IsRefused()
    {
        Assert.Throws<ArgumentException>(() => GgmlDequantizer.ToFloat32(GgmlType.Q8_0, new byte[33], new float[32]));
    }
}
