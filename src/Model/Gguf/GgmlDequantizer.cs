using System.Buffers.Binary;

namespace MoeServe.Model.Gguf;

/// <summary>
/// Converts ggml blocks to float32, following ggml-quants.c's <c>dequantize_row_*</c> reference code
/// bit for bit (block layouts from ggml-common.h). Works on spans: the caller hands in exactly the
/// bytes of the elements it wants.
/// </summary>
public static class GgmlDequantizer
{
    /// <summary>
    /// Dequantizes <paramref name="source"/> (a whole number of <paramref name="type"/> blocks) into
    /// <paramref name="destination"/>, whose length must be the number of elements those blocks hold.
    /// </summary>
    public static void ToFloat32(GgmlType type, ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (!GgmlTypes.IsSupported(type))
        {
            throw GgmlTypes.Unsupported(type);
        }
        long expected = GgmlTypes.ByteCount(type, destination.Length);
        if (source.Length != expected)
        {
            throw new ArgumentException($"{destination.Length} elements of {type} take {expected} bytes, not {source.Length}.", nameof(source));
        }
        switch (type)
        {
            case GgmlType.F32:
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = BinaryPrimitives.ReadSingleLittleEndian(source.Slice(4 * i, 4));
                }
                break;
            case GgmlType.F16:
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = Half16(source, 2 * i);
                }
                break;
            case GgmlType.BF16:
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(source.Slice(2 * i, 2)) << 16);
                }
                break;
            default:
                GgmlTypes.ForEachBlock(type, source, destination, BlockDecoderOf(type));
                break;
        }
    }

    private static GgmlTypes.BlockDecoder BlockDecoderOf(GgmlType type) => type switch
    {
        GgmlType.Q8_0 => Q8_0,
        GgmlType.Q4_0 => Q4_0,
        GgmlType.Q4_K => Q4_K,
        GgmlType.Q6_K => Q6_K,
        _ => throw GgmlTypes.Unsupported(type),
    };

    private static float Half16(ReadOnlySpan<byte> bytes, int offset) =>
        (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(bytes.Slice(offset, 2)));

    // block_q8_0 { ggml_half d; int8_t qs[32]; }: y = qs[j] * d.
    private static void Q8_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Half16(b, 0);
        for (int j = 0; j < 32; j++)
        {
            y[j] = (sbyte)b[2 + j] * d;
        }
    }

    // block_q4_0 { ggml_half d; uint8_t qs[16]; }: low nibbles are elements 0..15, high nibbles 16..31, each minus 8.
    private static void Q4_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Half16(b, 0);
        for (int j = 0; j < 16; j++)
        {
            int q = b[2 + j];
            y[j] = ((q & 0x0F) - 8) * d;
            y[j + 16] = ((q >> 4) - 8) * d;
        }
    }

    // ggml-quants.c get_scale_min_k4: 8 six-bit scales and 8 six-bit mins packed in 12 bytes.
    private static void ScaleMinK4(int j, ReadOnlySpan<byte> q, out int scale, out int min)
    {
        if (j < 4)
        {
            scale = q[j] & 63;
            min = q[j + 4] & 63;
        }
        else
        {
            scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }

    // block_q4_K { ggml_half d; ggml_half dmin; uint8_t scales[12]; uint8_t qs[128]; }.
    private static void Q4_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Half16(b, 0);
        float dmin = Half16(b, 2);
        ReadOnlySpan<byte> scales = b.Slice(4, 12);
        ReadOnlySpan<byte> q = b.Slice(16, 128);
        int yi = 0;
        int qi = 0;
        for (int j = 0, s = 0; j < 256; j += 64, s += 2)
        {
            ScaleMinK4(s, scales, out int sc, out int m);
            float d1 = d * sc;
            float m1 = dmin * m;
            ScaleMinK4(s + 1, scales, out sc, out m);
            float d2 = d * sc;
            float m2 = dmin * m;
            for (int l = 0; l < 32; l++)
            {
                y[yi++] = d1 * (q[qi + l] & 0xF) - m1;
            }
            for (int l = 0; l < 32; l++)
            {
                y[yi++] = d2 * (q[qi + l] >> 4) - m2;
            }
            qi += 32;
        }
    }

    // block_q6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; ggml_half d; }.
    private static void Q6_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Half16(b, 208);
        for (int n = 0; n < 2; n++)
        {
            ReadOnlySpan<byte> ql = b.Slice(64 * n, 64);
            ReadOnlySpan<byte> qh = b.Slice(128 + 32 * n, 32);
            ReadOnlySpan<byte> sc = b.Slice(192 + 8 * n, 8);
            Span<float> yn = y.Slice(128 * n, 128);
            for (int l = 0; l < 32; l++)
            {
                int s = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                yn[l] = d * (sbyte)sc[s] * q1;
                yn[l + 32] = d * (sbyte)sc[s + 2] * q2;
                yn[l + 64] = d * (sbyte)sc[s + 4] * q3;
                yn[l + 96] = d * (sbyte)sc[s + 6] * q4;
            }
        }
    }
}
