using System.Globalization;

namespace MoeServe.Model.Gguf;

/// <summary>GGUF metadata value types (gguf.h's <c>enum gguf_type</c>).</summary>
#pragma warning disable CS1591 // self-describing
public enum GgufValueType
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}
#pragma warning restore CS1591

/// <summary>
/// One GGUF metadata value. Scalars are held as the CLR type of the same width (byte, sbyte, ushort,
/// short, uint, int, float, bool, string, ulong, long, double); an array as a CLR array of its
/// element type (string[], int[], float[] ...), with <see cref="ElementType"/> naming it. Arrays of
/// arrays are held as <see cref="GgufValue"/>[].
/// </summary>
public sealed class GgufValue
{
    /// <summary>Wraps a value; <paramref name="value"/> must have the CLR type that <paramref name="type"/> implies.</summary>
    public GgufValue(GgufValueType type, object value, GgufValueType? elementType = null)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (type == GgufValueType.Array && elementType is null)
        {
            throw new ArgumentException("An array value needs its element type.", nameof(elementType));
        }
        Type = type;
        Value = value;
        ElementType = type == GgufValueType.Array ? elementType : null;
    }

    /// <summary>The stored type.</summary>
    public GgufValueType Type { get; }

    /// <summary>For an array, the element type; otherwise null.</summary>
    public GgufValueType? ElementType { get; }

    /// <summary>The value (see the class remarks for the CLR types).</summary>
    public object Value { get; }

    /// <summary>Whether the value is an integer scalar (any width, signed or not).</summary>
    public bool IsInteger => Type is GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.UInt16 or GgufValueType.Int16
        or GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.UInt64 or GgufValueType.Int64;

    /// <summary>The value as an integer; throws unless it is an integer scalar (a uint64 above long.MaxValue throws too).</summary>
    public long AsInt64() => Value switch
    {
        byte v => v,
        sbyte v => v,
        ushort v => v,
        short v => v,
        uint v => v,
        int v => v,
        ulong v => checked((long)v),
        long v => v,
        _ => throw new InvalidCastException($"GGUF value of type {Type} is not an integer."),
    };

    /// <summary>
    /// The value as a double: a float32 is given by its shortest round-trip decimal (1e-6f reads 1e-6,
    /// as the float the converter wrote it from, not 9.99999997e-7); integers convert exactly.
    /// </summary>
    public double AsDouble() => Value switch
    {
        float f => double.Parse(f.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture),
        double d => d,
        _ when IsInteger => AsInt64(),
        _ => throw new InvalidCastException($"GGUF value of type {Type} is not a number."),
    };

    /// <summary>The value as a bool; throws unless it is a bool.</summary>
    public bool AsBool() => Value is bool b ? b : throw new InvalidCastException($"GGUF value of type {Type} is not a bool.");

    /// <summary>The value as a string; throws unless it is a string.</summary>
    public string AsString() => Value is string s ? s : throw new InvalidCastException($"GGUF value of type {Type} is not a string.");

    /// <summary>The value as an array of <typeparamref name="T"/>; throws unless it is an array of exactly that CLR type.</summary>
    public T[] AsArray<T>() => Value is T[] a ? a
        : throw new InvalidCastException($"GGUF value of type {Type}{(ElementType is { } e ? $" of {e}" : "")} is not an array of {typeof(T).Name}.");

    /// <summary>An integer array of any integer element type, widened to long.</summary>
    public long[] AsInt64Array() => Value switch
    {
        byte[] a => Array.ConvertAll(a, v => (long)v),
        sbyte[] a => Array.ConvertAll(a, v => (long)v),
        ushort[] a => Array.ConvertAll(a, v => (long)v),
        short[] a => Array.ConvertAll(a, v => (long)v),
        uint[] a => Array.ConvertAll(a, v => (long)v),
        int[] a => Array.ConvertAll(a, v => (long)v),
        ulong[] a => Array.ConvertAll(a, v => checked((long)v)),
        long[] a => (long[])a.Clone(),
        _ => throw new InvalidCastException($"GGUF value of type {Type} is not an integer array."),
    };

    /// <summary>A float array (float32 or float64 elements), as float.</summary>
    public float[] AsFloat32Array() => Value switch
    {
        float[] a => (float[])a.Clone(),
        double[] a => Array.ConvertAll(a, v => (float)v),
        _ => throw new InvalidCastException($"GGUF value of type {Type} is not a float array."),
    };

    /// <inheritdoc />
    public override string ToString() => Value switch
    {
        string s => s.Length > 80 ? $"\"{s[..80]}...\"" : $"\"{s}\"",
        Array a => $"[{ElementType} x {a.Length}]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => Value.ToString() ?? "",
    };
}

/// <summary>
/// One tensor's entry in a GGUF file. <see cref="Dimensions"/> is in ggml order: ne[0] is the
/// innermost (contiguous) dimension, so ne = [in, out] is a PyTorch [out, in] row-major matrix.
/// </summary>
/// <param name="Name">The GGUF tensor name (e.g. blk.0.attn_q.weight).</param>
/// <param name="Dimensions">ne[0..n_dims), innermost first.</param>
/// <param name="Type">Element type.</param>
/// <param name="Offset">Byte offset of the data from the start of the file's data section.</param>
public sealed record GgufTensorInfo(string Name, IReadOnlyList<long> Dimensions, GgmlType Type, long Offset)
{
    /// <summary>The product of the dimensions.</summary>
    public long ElementCount => Dimensions.Aggregate(1L, (a, b) => checked(a * b));

    /// <summary>The shape in PyTorch order (the dimensions reversed, outermost first).</summary>
    public long[] TorchShape => Dimensions.Reverse().ToArray();

    /// <summary>Bytes of data (throws for a type the reader does not support).</summary>
    public long ByteCount => GgmlTypes.ByteCount(Type, ElementCount);

    /// <summary>"name type [ne0, ne1, ...]" (safe for any type, unlike the computed members).</summary>
    public override string ToString() => $"{Name} {Type} [{string.Join(", ", Dimensions)}]";
}
