using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace MoeServe.Model;

/// <summary>
/// Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header
/// mapping each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative
/// to the data section) plus an optional "__metadata__" string map, then the raw little-endian data.
/// Float32 and float16 are supported; tensors are always handed out as float32.
/// </summary>
public static class SafeTensorsFile
{
    private const string MetadataKey = "__metadata__";
    private const int Alignment = 8;
    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    /// <summary>Writes <paramref name="tensors"/> to <paramref name="path"/>, names sorted ordinally.</summary>
    /// <param name="path">File to create or overwrite.</param>
    /// <param name="tensors">Tensors by name.</param>
    /// <param name="dtype">Storage type of every tensor.</param>
    /// <param name="metadata">Optional free-form string metadata.</param>
    public static void Write(string path, IReadOnlyDictionary<string, FloatTensor> tensors, TensorDType dtype = TensorDType.Float32, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        Write(stream, tensors, dtype, metadata);
    }

    /// <summary>Writes <paramref name="tensors"/> to a stream, names sorted ordinally.</summary>
    /// <param name="stream">Destination stream.</param>
    /// <param name="tensors">Tensors by name.</param>
    /// <param name="dtype">Storage type of every tensor.</param>
    /// <param name="metadata">Optional free-form string metadata.</param>
    public static void Write(Stream stream, IReadOnlyDictionary<string, FloatTensor> tensors, TensorDType dtype = TensorDType.Float32, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensors);
        EnsureLittleEndian();
        var names = tensors.Keys.OrderBy(n => n, StringComparer.Ordinal).ToList();
        byte[] header = BuildHeader(names, tensors, dtype, metadata);

        Span<byte> lengthBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(lengthBytes, (ulong)header.Length);
        stream.Write(lengthBytes);
        stream.Write(header);

        byte[] halfBuffer = [];
        foreach (string name in names)
        {
            float[] data = tensors[name].Data;
            if (dtype == TensorDType.Float32)
            {
                stream.Write(MemoryMarshal.AsBytes(data.AsSpan()));
            }
            else
            {
                if (halfBuffer.Length < data.Length * 2)
                {
                    halfBuffer = new byte[data.Length * 2];
                }

                var halves = MemoryMarshal.Cast<byte, Half>(halfBuffer.AsSpan(0, data.Length * 2));
                TensorPrimitives.ConvertToHalf(data, halves);
                stream.Write(halfBuffer, 0, data.Length * 2);
            }
        }
    }

    /// <summary>Reads every tensor of a safetensors file, widening float16 to float32.</summary>
    /// <param name="path">File to read.</param>
    /// <exception cref="InvalidDataException">The file is malformed; the message names the file and the problem.</exception>
    public static SafeTensorsContent Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Safetensors file not found: {path}", path);
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return Read(stream, path);
    }

    /// <summary>Reads every tensor from a stream positioned at the start of a safetensors file.</summary>
    /// <param name="stream">Source stream.</param>
    /// <param name="source">Name used in error messages.</param>
    public static SafeTensorsContent Read(Stream stream, string source = "safetensors stream")
    {
        ArgumentNullException.ThrowIfNull(stream);
        EnsureLittleEndian();
        Span<byte> lengthBytes = stackalloc byte[8];
        if (stream.ReadAtLeast(lengthBytes, 8, throwOnEndOfStream: false) < 8)
        {
            throw new InvalidDataException($"{source}: too short for a safetensors header length.");
        }

        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength == 0 || headerLength > MaxHeaderBytes)
        {
            throw new InvalidDataException($"{source}: implausible safetensors header length {headerLength}.");
        }

        byte[] headerBytes = new byte[headerLength];
        if (stream.ReadAtLeast(headerBytes, headerBytes.Length, throwOnEndOfStream: false) < headerBytes.Length)
        {
            throw new InvalidDataException($"{source}: file ends inside the {headerLength}-byte header.");
        }

        var (entries, metadata) = ParseHeader(headerBytes, source);
        long dataLength = entries.Count == 0 ? 0 : entries.Max(e => e.End);
        ValidateLayout(entries, source);

        byte[] data = new byte[dataLength];
        if (stream.ReadAtLeast(data, data.Length, throwOnEndOfStream: false) < data.Length)
        {
            throw new InvalidDataException($"{source}: data section is shorter than the header's offsets ({dataLength} bytes).");
        }

        var tensors = new Dictionary<string, FloatTensor>(StringComparer.Ordinal);
        var dtypes = new Dictionary<string, TensorDType>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            var bytes = data.AsSpan((int)entry.Begin, (int)(entry.End - entry.Begin));
            float[] values = new float[entry.ElementCount];
            if (entry.DType == TensorDType.Float32)
            {
                MemoryMarshal.Cast<byte, float>(bytes).CopyTo(values);
            }
            else
            {
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(bytes), values);
            }

            tensors[entry.Name] = new FloatTensor(entry.Shape, values);
            dtypes[entry.Name] = entry.DType;
        }

        return new SafeTensorsContent(source, tensors, dtypes, metadata);
    }

    private static byte[] BuildHeader(List<string> names, IReadOnlyDictionary<string, FloatTensor> tensors, TensorDType dtype, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(MetadataKey);
                foreach (var (key, value) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    json.WriteString(key, value);
                }

                json.WriteEndObject();
            }

            long offset = 0;
            foreach (string name in names)
            {
                if (name == MetadataKey)
                {
                    throw new ArgumentException($"A tensor may not be named {MetadataKey}.", nameof(tensors));
                }

                var tensor = tensors[name] ?? throw new ArgumentException($"Tensor '{name}' is null.", nameof(tensors));
                long size = (long)tensor.ElementCount * dtype.ElementSize();
                json.WriteStartObject(name);
                json.WriteString("dtype", dtype.SafeTensorsName());
                json.WriteStartArray("shape");
                foreach (int dim in tensor.Shape)
                {
                    json.WriteNumberValue(dim);
                }

                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + size);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += size;
            }

            json.WriteEndObject();
        }

        // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
        int length = (int)buffer.Length;
        int padded = (length + Alignment - 1) / Alignment * Alignment;
        for (int i = length; i < padded; i++)
        {
            buffer.WriteByte((byte)' ');
        }

        return buffer.ToArray();
    }

    private static (List<HeaderEntry> Entries, Dictionary<string, string> Metadata) ParseHeader(byte[] headerBytes, string source)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(headerBytes);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{source}: safetensors header is not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"{source}: safetensors header must be a JSON object.");
            }

            var entries = new List<HeaderEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var errors = new List<string>();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Name == MetadataKey)
                {
                    if (property.Value.ValueKind == JsonValueKind.Object)
                    {
                        foreach (var item in property.Value.EnumerateObject())
                        {
                            metadata[item.Name] = item.Value.ValueKind == JsonValueKind.String ? item.Value.GetString()! : item.Value.GetRawText();
                        }
                    }

                    continue;
                }

                var entry = ParseEntry(property, errors);
                if (entry is not null)
                {
                    entries.Add(entry);
                }
            }

            if (errors.Count > 0)
            {
                throw new InvalidDataException(ErrorList.Format($"{source}: bad safetensors header", errors));
            }

            return (entries, metadata);
        }
    }

    private static HeaderEntry? ParseEntry(JsonProperty property, List<string> errors)
    {
        string name = property.Name;
        var value = property.Value;
        if (value.ValueKind != JsonValueKind.Object)
        {
            errors.Add($"'{name}' is not an object.");
            return null;
        }

        TensorDType dtype = TensorDType.Float32;
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
        {
            errors.Add($"'{name}' has no dtype.");
            return null;
        }

        switch (dtypeElement.GetString())
        {
            case "F32": dtype = TensorDType.Float32; break;
            case "F16": dtype = TensorDType.Float16; break;
            default:
                errors.Add($"'{name}' has dtype {dtypeElement.GetString()}; only F32 and F16 are supported.");
                return null;
        }

        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
        {
            errors.Add($"'{name}' has no shape array.");
            return null;
        }

        var shape = new List<int>();
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt32(out int d) || d < 0)
            {
                errors.Add($"'{name}' has a bad shape {shapeElement.GetRawText()}.");
                return null;
            }

            shape.Add(d);
        }

        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2
            || !offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end) || begin < 0 || end < begin)
        {
            errors.Add($"'{name}' has bad data_offsets.");
            return null;
        }

        long count;
        try
        {
            count = FloatTensor.ElementCountOf(shape);
        }
        catch (OverflowException)
        {
            errors.Add($"'{name}' shape is too large.");
            return null;
        }

        if (end - begin != count * dtype.ElementSize())
        {
            errors.Add($"'{name}' spans {end - begin} bytes but shape [{string.Join(", ", shape)}] of {dtype.SafeTensorsName()} needs {count * dtype.ElementSize()}.");
            return null;
        }

        if (count > Array.MaxLength)
        {
            errors.Add($"'{name}' has {count} elements, more than one array can hold.");
            return null;
        }

        return new HeaderEntry(name, dtype, [.. shape], begin, end, (int)count);
    }

    private static void ValidateLayout(List<HeaderEntry> entries, string source)
    {
        // The format requires the tensors to tile the data section without holes or overlaps.
        long expected = 0;
        foreach (var entry in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (entry.Begin != expected)
            {
                throw new InvalidDataException($"{source}: tensor '{entry.Name}' starts at byte {entry.Begin}, expected {expected} (overlap or hole in the data section).");
            }

            expected = entry.End;
        }

        if (expected > int.MaxValue)
        {
            throw new InvalidDataException($"{source}: data section of {expected} bytes exceeds the 2 GB this reader supports.");
        }
    }

    private static void EnsureLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("safetensors I/O here assumes a little-endian machine.");
        }
    }

    private sealed record HeaderEntry(string Name, TensorDType DType, int[] Shape, long Begin, long End, int ElementCount);
}
