using System.Buffers.Binary;
using System.Text;

namespace MoeServe.Model.Gguf;

/// <summary>
/// Writes a GGUF v3 file: metadata key/values (kept in the order added), tensor infos and the tensor
/// data, each tensor at an offset that is a multiple of the alignment (32 unless given; a different
/// one is recorded as <c>general.alignment</c>). Tensors are given in ggml dimension order (ne[0]
/// innermost) with their raw bytes, or as float32 in PyTorch shape, converted on add to F32, F16,
/// BF16, Q8_0 or Q4_0 with ggml's reference rounding (quantize_row_*_ref in ggml-quants.c).
/// </summary>
public sealed class GgufWriter
{
    private readonly List<(string Key, GgufValue Value)> _metadata = [];
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    // A tensor's bytes are given up front (Data) or made when the file is written (Produce), so a writer of a
    // multi-GB file holds one tensor at a time.
    private readonly List<(string Name, long[] Dimensions, GgmlType Type, long Bytes, ReadOnlyMemory<byte> Data, Func<ReadOnlyMemory<byte>>? Produce)> _tensors = [];
    private readonly HashSet<string> _tensorNames = new(StringComparer.Ordinal);

    /// <summary>A writer whose data is aligned to <paramref name="alignment"/> bytes (a power of two).</summary>
    public GgufWriter(int alignment = GgufFile.DefaultAlignment)
    {
        if (alignment <= 0 || (alignment & (alignment - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(alignment), "The alignment must be a power of two.");
        }
        Alignment = alignment;
        if (alignment != GgufFile.DefaultAlignment)
        {
            AddUInt32("general.alignment", (uint)alignment);
        }
    }

    /// <summary>The data alignment.</summary>
    public int Alignment { get; }

    /// <summary>Adds a metadata value; a key may be added once.</summary>
    public void Add(string key, GgufValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        if (!_keys.Add(key))
        {
            throw new InvalidOperationException($"Metadata key '{key}' was already added.");
        }
        _metadata.Add((key, value));
    }

    /// <summary>Adds a string.</summary>
    public void AddString(string key, string value) => Add(key, new GgufValue(GgufValueType.String, value));

    /// <summary>Adds a uint32.</summary>
    public void AddUInt32(string key, uint value) => Add(key, new GgufValue(GgufValueType.UInt32, value));

    /// <summary>Adds an int32.</summary>
    public void AddInt32(string key, int value) => Add(key, new GgufValue(GgufValueType.Int32, value));

    /// <summary>Adds a uint64.</summary>
    public void AddUInt64(string key, ulong value) => Add(key, new GgufValue(GgufValueType.UInt64, value));

    /// <summary>Adds a float32.</summary>
    public void AddFloat32(string key, float value) => Add(key, new GgufValue(GgufValueType.Float32, value));

    /// <summary>Adds a float64.</summary>
    public void AddFloat64(string key, double value) => Add(key, new GgufValue(GgufValueType.Float64, value));

    /// <summary>Adds a bool.</summary>
    public void AddBool(string key, bool value) => Add(key, new GgufValue(GgufValueType.Bool, value));

    /// <summary>The tokenizer.* keys llama.cpp's converter writes (_set_vocab_gpt2 / SentencePiece and SpecialVocab), each only when set.</summary>
    /// <param name="tokenizer">The tokenizer metadata.</param>
    public void AddTokenizer(GgufTokenizerMetadata tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        AddString("tokenizer.ggml.model", tokenizer.Model);
        if (tokenizer.Pre is not null)
        {
            AddString("tokenizer.ggml.pre", tokenizer.Pre);
        }

        AddArray("tokenizer.ggml.tokens", tokenizer.Tokens);
        if (tokenizer.Scores is not null)
        {
            AddArray("tokenizer.ggml.scores", tokenizer.Scores);
        }

        if (tokenizer.TokenTypes is not null)
        {
            AddArray("tokenizer.ggml.token_type", tokenizer.TokenTypes);
        }

        if (tokenizer.Merges is not null)
        {
            AddArray("tokenizer.ggml.merges", tokenizer.Merges);
        }

        AddId("tokenizer.ggml.bos_token_id", tokenizer.BosTokenId);
        AddId("tokenizer.ggml.eos_token_id", tokenizer.EosTokenId);
        AddId("tokenizer.ggml.unknown_token_id", tokenizer.UnknownTokenId);
        AddId("tokenizer.ggml.padding_token_id", tokenizer.PaddingTokenId);
        AddId("tokenizer.ggml.eot_token_id", tokenizer.EotTokenId);
        if (tokenizer.AddBosToken is { } addBos)
        {
            AddBool("tokenizer.ggml.add_bos_token", addBos);
        }

        if (tokenizer.AddEosToken is { } addEos)
        {
            AddBool("tokenizer.ggml.add_eos_token", addEos);
        }

        if (tokenizer.ChatTemplate is not null)
        {
            AddString("tokenizer.chat_template", tokenizer.ChatTemplate);
        }
    }

    /// <summary>
    /// llama.cpp's LlamaModel.permute for the q and k rows of the <c>llama</c> architecture (its RoPE pairs adjacent
    /// channels): GGUF row h*hd + 2*i + j is transformers row h*hd + j*hd/2 + i. GgufCheckpoint undoes exactly this.
    /// </summary>
    /// <param name="data">Row-major [rows, rowLength] weights in transformers' order.</param>
    /// <param name="rows">Rows (heads x head width).</param>
    /// <param name="heads">Heads the rows belong to.</param>
    public static float[] PermuteLlamaRows(float[] data, int rows, int heads)
    {
        ArgumentNullException.ThrowIfNull(data);
        int rowLength = data.Length / rows;
        int headDim = rows / heads;
        int half = headDim / 2;
        var result = new float[data.Length];
        for (int head = 0; head < heads; head++)
        {
            for (int i = 0; i < half; i++)
            {
                for (int j = 0; j < 2; j++)
                {
                    Array.Copy(data, ((head * headDim) + (j * half) + i) * rowLength, result, ((head * headDim) + (2 * i) + j) * rowLength, rowLength);
                }
            }
        }

        return result;
    }

    private void AddId(string key, int? id)
    {
        if (id is { } value)
        {
            AddUInt32(key, (uint)value);
        }
    }

    /// <summary>Adds an array of strings.</summary>
    public void AddArray(string key, IEnumerable<string> values) => Add(key, new GgufValue(GgufValueType.Array, values.ToArray(), GgufValueType.String));

    /// <summary>Adds an array of int32.</summary>
    public void AddArray(string key, IEnumerable<int> values) => Add(key, new GgufValue(GgufValueType.Array, values.ToArray(), GgufValueType.Int32));

    /// <summary>Adds an array of float32.</summary>
    public void AddArray(string key, IEnumerable<float> values) => Add(key, new GgufValue(GgufValueType.Array, values.ToArray(), GgufValueType.Float32));

    /// <summary>Adds a tensor from its raw bytes; <paramref name="dimensions"/> in ggml order (ne[0] innermost).</summary>
    public void AddTensor(string name, IReadOnlyList<long> dimensions, GgmlType type, ReadOnlyMemory<byte> data)
    {
        long bytes = CheckTensor(name, dimensions, type);
        if (data.Length != bytes)
        {
            throw new ArgumentException($"Tensor '{name}': {dimensions.Aggregate(1L, (a, b) => a * b)} elements of {type} take {bytes} bytes, not {data.Length}.", nameof(data));
        }
        _tensorNames.Add(name);
        _tensors.Add((name, dimensions.ToArray(), type, bytes, data, null));
    }

    /// <summary>
    /// Adds a tensor whose raw bytes <paramref name="produce"/> makes while the file is written (called once, in
    /// tensor order), so only one such tensor is in memory at a time; <paramref name="dimensions"/> in ggml order.
    /// </summary>
    public void AddTensor(string name, IReadOnlyList<long> dimensions, GgmlType type, Func<ReadOnlyMemory<byte>> produce)
    {
        ArgumentNullException.ThrowIfNull(produce);
        long bytes = CheckTensor(name, dimensions, type);
        _tensorNames.Add(name);
        _tensors.Add((name, dimensions.ToArray(), type, bytes, ReadOnlyMemory<byte>.Empty, produce));
    }

    // The tensor's byte count, after checking its name, dimensions and type.
    private long CheckTensor(string name, IReadOnlyList<long> dimensions, GgmlType type)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(dimensions);
        if (dimensions.Count is 0 or > 4 || dimensions.Any(d => d <= 0))
        {
            throw new ArgumentException($"Tensor '{name}': ggml tensors have 1 to 4 positive dimensions, not [{string.Join(", ", dimensions)}].", nameof(dimensions));
        }
        long elements = dimensions.Aggregate(1L, (a, b) => checked(a * b));
        if (dimensions[0] % GgmlTypes.BlockElements(type) != 0)
        {
            throw new ArgumentException($"Tensor '{name}': rows of {dimensions[0]} are not whole {type} blocks.", nameof(dimensions));
        }
        if (_tensorNames.Contains(name))
        {
            throw new InvalidOperationException($"Tensor '{name}' was already added.");
        }
        return GgmlTypes.ByteCount(type, elements);
    }

    /// <summary>
    /// Adds a float32 tensor given in PyTorch shape (outermost first), stored as <paramref name="type"/>
    /// (F32, F16, BF16, Q8_0 or Q4_0; the quantized types need rows of whole 32-element blocks).
    /// </summary>
    public void AddTensor(string name, IReadOnlyList<long> torchShape, ReadOnlySpan<float> data, GgmlType type = GgmlType.F32)
    {
        ArgumentNullException.ThrowIfNull(torchShape);
        long[] ne = torchShape.Reverse().ToArray();
        AddTensor(name, ne, type, Encode(type, data));
    }

    /// <summary>Converts float32 values to the bytes of <paramref name="type"/> (F32, F16, BF16, Q8_0, Q4_0).</summary>
    public static byte[] Encode(GgmlType type, ReadOnlySpan<float> data)
    {
        var bytes = new byte[GgmlTypes.ByteCount(type, data.Length)];
        switch (type)
        {
            case GgmlType.F32:
                for (int i = 0; i < data.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), data[i]);
                }
                break;
            case GgmlType.F16:
                for (int i = 0; i < data.Length; i++)
                {
                    BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(2 * i), (Half)data[i]);
                }
                break;
            case GgmlType.BF16:
                for (int i = 0; i < data.Length; i++)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), ToBFloat16(data[i]));
                }
                break;
            default:
                GgmlTypes.ForEachBlock(type, data, bytes, BlockEncoderOf(type));
                break;
        }
        return bytes;
    }

    private static GgmlTypes.BlockEncoder BlockEncoderOf(GgmlType type) => type switch
    {
        GgmlType.Q8_0 => Q8_0,
        GgmlType.Q4_0 => Q4_0,
        _ => throw new NotSupportedException($"GgufWriter encodes F32, F16, BF16, Q8_0 and Q4_0, not {type}."),
    };

    // block_q8_0: d = max |x| / 127, qs[j] = round(x[j] / d).
    private static void Q8_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        float amax = 0;
        foreach (float v in x)
        {
            amax = Math.Max(amax, Math.Abs(v));
        }
        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        BinaryPrimitives.WriteHalfLittleEndian(y, (Half)d);
        for (int j = 0; j < 32; j++)
        {
            y[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
        }
    }

    // block_q4_0: d = (the value of largest magnitude) / -8, elements j and j + 16 share byte j as its low and high nibble.
    private static void Q4_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        float amax = 0;
        float max = 0;
        foreach (float v in x)
        {
            if (amax < Math.Abs(v))
            {
                amax = Math.Abs(v);
                max = v;
            }
        }
        float d = max / -8;
        float id = d != 0 ? 1.0f / d : 0.0f;
        BinaryPrimitives.WriteHalfLittleEndian(y, (Half)d);
        for (int j = 0; j < 16; j++)
        {
            int q0 = Math.Min(15, (int)(sbyte)(x[j] * id + 8.5f));
            int q1 = Math.Min(15, (int)(sbyte)(x[j + 16] * id + 8.5f));
            y[2 + j] = (byte)(q0 | (q1 << 4));
        }
    }

    // ggml_compute_fp32_to_bf16: round to nearest even, NaN kept quiet.
    private static ushort ToBFloat16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7fffffff) > 0x7f800000)
        {
            return (ushort)((u >> 16) | 64);
        }
        return (ushort)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
    }

    /// <summary>Writes the file to <paramref name="path"/>.</summary>
    public void WriteTo(string path)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        WriteTo(stream);
    }

    /// <summary>Writes the file to <paramref name="stream"/> (from its current position, taken as offset 0).</summary>
    public void WriteTo(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        long start = stream.Position;
        w.Write(0x46554747u); // "GGUF"
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach ((string key, GgufValue value) in _metadata)
        {
            WriteString(w, key);
            w.Write((uint)value.Type);
            WriteValue(w, value);
        }
        long offset = 0;
        var offsets = new long[_tensors.Count];
        for (int i = 0; i < _tensors.Count; i++)
        {
            (string name, long[] dims, GgmlType type, long bytes, _, _) = _tensors[i];
            WriteString(w, name);
            w.Write((uint)dims.Length);
            foreach (long d in dims)
            {
                w.Write((ulong)d);
            }
            w.Write((uint)type);
            w.Write((ulong)offset);
            offsets[i] = offset;
            offset = Align(offset + bytes);
        }
        Pad(w, stream.Position - start);
        long dataStart = stream.Position;
        for (int i = 0; i < _tensors.Count; i++)
        {
            w.Flush();
            Pad(w, stream.Position - dataStart);
            var tensor = _tensors[i];
            ReadOnlyMemory<byte> data = tensor.Produce is null ? tensor.Data : tensor.Produce();
            if (data.Length != tensor.Bytes)
            {
                throw new InvalidOperationException($"Tensor '{tensor.Name}': the producer made {data.Length} bytes, not {tensor.Bytes}.");
            }
            w.Write(data.Span);
        }
        w.Flush();
    }

    private long Align(long n) => (n + Alignment - 1) / Alignment * Alignment;

    private void Pad(BinaryWriter w, long position)
    {
        for (long p = position; p < Align(position); p++)
        {
            w.Write((byte)0);
        }
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteValue(BinaryWriter w, GgufValue v)
    {
        switch (v.Value)
        {
            case byte x: w.Write(x); break;
            case sbyte x: w.Write(x); break;
            case ushort x: w.Write(x); break;
            case short x: w.Write(x); break;
            case uint x: w.Write(x); break;
            case int x: w.Write(x); break;
            case float x: w.Write(x); break;
            case bool x: w.Write((byte)(x ? 1 : 0)); break;
            case string x: WriteString(w, x); break;
            case ulong x: w.Write(x); break;
            case long x: w.Write(x); break;
            case double x: w.Write(x); break;
            case Array a:
                w.Write((uint)v.ElementType!.Value);
                w.Write((ulong)a.Length);
                foreach (object? e in a)
                {
                    // An array of arrays holds GgufValues, each written as its element type, count and elements.
                    WriteValue(w, e as GgufValue ?? new GgufValue(v.ElementType.Value, e!));
                }
                break;
            default:
                throw new NotSupportedException($"Cannot write a GGUF value of CLR type {v.Value.GetType().Name}.");
        }
    }
}
