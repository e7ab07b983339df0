using System.Runtime.Intrinsics;
using MoeServe.Runtime.Attention;

namespace MoeServe.Runtime.Tests.Attention;

public sealed class HalfVectorsTests
{
    [Fact]
    public void Widen_EveryFiniteFloat16_EqualsTheBclConversionBitForBit()
    {
        // All 63,488 finite bit patterns (both signs, zeros and subnormals included), eight at a time.
        var bits = new List<short>();
        for (int i = 0; i < 65536; i++)
        {
            var h = BitConverter.UInt16BitsToHalf((ushort)i);
            if (Half.IsFinite(h))
            {
                bits.Add(unchecked((short)i));
            }
        }

        while (bits.Count % 8 != 0)
        {
            bits.Add(0);
        }

        for (int i = 0; i < bits.Count; i += 8)
        {
            var wide = HalfVectors.Widen(Vector128.Create(bits.GetRange(i, 8).ToArray()));
            for (int k = 0; k < 8; k++)
            {
                float expected = (float)BitConverter.UInt16BitsToHalf(unchecked((ushort)bits[i + k]));
                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(wide[k]), $"0x{bits[i + k]:X4}: {expected} vs {wide[k]}");
            }
        }
    }

    [Fact]
    public void Encode_RoundTripsWithinHalfPrecision_SaturatesAndFlushesTinyValues()
    {
        var random = new Random(3);
        for (int i = 0; i < 10_000; i++)
        {
            float x = (float)(((random.NextDouble() * 2) - 1) * Math.Pow(10, random.Next(-4, 5)));
            float back = (float)HalfVectors.Encode(x);
            if (MathF.Abs(x) < HalfVectors.MinNormal)
            {
                Assert.Equal(0f, back);
            }
            else
            {
                Assert.True(MathF.Abs(back - x) <= MathF.Abs(x) * (1f / 2048), $"{x} -> {back}");
            }
        }

        Assert.Equal(65504f, (float)HalfVectors.Encode(1e6f));
        Assert.Equal(-65504f, (float)HalfVectors.Encode(float.NegativeInfinity));
        Assert.Equal(0f, (float)HalfVectors.Encode(3e-5f));
        Assert.Equal(HalfVectors.MinNormal, (float)HalfVectors.Encode(HalfVectors.MinNormal));
        Assert.True(Half.IsNaN(HalfVectors.Encode(float.NaN)));

        float[] source = [1.5f, -2.25f, 1e-7f, 70000f];
        Half[] destination = new Half[5];
        HalfVectors.Encode(source, destination);
        Assert.Equal([(Half)1.5f, (Half)(-2.25f), (Half)0f, (Half)65504f, (Half)0f], destination);
    }
}
