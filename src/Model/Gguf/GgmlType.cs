namespace MoeServe.Model.Gguf;

/// <summary>
/// ggml's tensor element types, with the numeric ids GGUF stores (ggml.h's <c>enum ggml_type</c>).
/// The reader dequantizes <see cref="F32"/>, <see cref="F16"/>, <see cref="BF16"/>, <see cref="Q8_0"/>,
/// <see cref="Q4_0"/>, <see cref="Q4_K"/> and <see cref="Q6_K"/>; the others are named so an error can
/// say which type a file uses.
/// </summary>
#pragma warning disable CA1707, CS1591 // ggml's own names (Q4_K ...), self-describing.
public enum GgmlType
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
}
#pragma warning restore CA1707, CS1591

/// <summary>Block geometry of the ggml types the reader and writer handle (ggml-common.h).</summary>
public static class GgmlTypes
{
    /// <summary>Whether <paramref name="type"/> can be converted to float32 by <see cref="GgmlDequantizer"/>.</summary>
    public static bool IsSupported(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
        or GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_K or GgmlType.Q6_K;

    /// <summary>Elements per block: 1 for plain floats, 32 for Q8_0/Q4_0, 256 (QK_K) for the K-quants.</summary>
    public static int BlockElements(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 => 1,
        GgmlType.Q8_0 or GgmlType.Q4_0 => 32,
        GgmlType.Q4_K or GgmlType.Q6_K => 256,
        _ => throw Unsupported(type),
    };

    /// <summary>Bytes per block: block_q8_0 is 34, block_q4_0 18, block_q4_K 144, block_q6_K 210.</summary>
    public static int BlockBytes(GgmlType type) => type switch
    {
        GgmlType.F32 => 4,
        GgmlType.F16 or GgmlType.BF16 => 2,
        GgmlType.Q8_0 => 2 + 32,
        GgmlType.Q4_0 => 2 + 16,
        GgmlType.Q4_K => 2 + 2 + 12 + 128,
        GgmlType.Q6_K => 128 + 64 + 16 + 2,
        _ => throw Unsupported(type),
    };

    /// <summary>Bytes that <paramref name="elements"/> elements of <paramref name="type"/> take (a whole number of blocks).</summary>
    public static long ByteCount(GgmlType type, long elements)
    {
        int block = BlockElements(type);
        if (elements % block != 0)
        {
            throw new InvalidDataException($"{elements} elements of {type} are not a whole number of {block}-element blocks.");
        }
        return elements / block * BlockBytes(type);
    }

    /// <summary>Decodes one block: its bytes to its elements.</summary>
    internal delegate void BlockDecoder(ReadOnlySpan<byte> block, Span<float> elements);

    /// <summary>Encodes one block: its elements to its bytes.</summary>
    internal delegate void BlockEncoder(ReadOnlySpan<float> elements, Span<byte> block);

    /// <summary>Hands each block of <paramref name="bytes"/> to <paramref name="decode"/> with the elements of <paramref name="elements"/> it holds.</summary>
    internal static void ForEachBlock(GgmlType type, ReadOnlySpan<byte> bytes, Span<float> elements, BlockDecoder decode)
    {
        int blockElements = BlockElements(type);
        int blockBytes = BlockBytes(type);
        for (int i = 0; i < elements.Length / blockElements; i++)
        {
            decode(bytes.Slice(i * blockBytes, blockBytes), elements.Slice(i * blockElements, blockElements));
        }
    }

    /// <summary>Hands each block's elements of <paramref name="elements"/> to <paramref name="encode"/> with the bytes of <paramref name="bytes"/> they become.</summary>
    internal static void ForEachBlock(GgmlType type, ReadOnlySpan<float> elements, Span<byte> bytes, BlockEncoder encode)
    {
        int blockElements = BlockElements(type);
        int blockBytes = BlockBytes(type);
        for (int i = 0; i < elements.Length / blockElements; i++)
        {
            encode(elements.Slice(i * blockElements, blockElements), bytes.Slice(i * blockBytes, blockBytes));
        }
    }

    internal static NotSupportedException Unsupported(GgmlType type)
    {
        string name = Enum.IsDefined(type) ? type.ToString() : $"type id {(int)type}";
        return new NotSupportedException(
            $"GGUF tensor type {name} is not supported: MoeServe reads F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K.");
    }
}
