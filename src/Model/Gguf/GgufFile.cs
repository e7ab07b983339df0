using System.IO.MemoryMappedFiles;
using System.Text;

namespace MoeServe.Model.Gguf;

/// <summary>
/// A GGUF file (versions 2 and 3, little-endian), memory-mapped: the header, metadata and tensor
/// infos are parsed on open; tensor data stays in the mapping and is read one tensor (or one slice
/// of a tensor) at a time, dequantized to float32 straight from the mapped bytes. Layout as in
/// ggml's gguf.cpp: magic "GGUF", uint32 version, uint64 tensor count, uint64 key/value count, the
/// key/values, the tensor infos, padding to <c>general.alignment</c> (default 32), then the data,
/// each tensor at an aligned offset from the start of the data.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    /// <summary>The alignment GGUF uses when <c>general.alignment</c> is absent.</summary>
    public const int DefaultAlignment = 32;

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly long _length;
    private readonly Dictionary<string, GgufValue> _metadata;
    private readonly Dictionary<string, GgufTensorInfo> _tensorsByName;
    private bool _disposed;

    private GgufFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePointer, long length)
    {
        Path = path;
        _map = map;
        _view = view;
        _base = basePointer;
        _length = length;
        var reader = new Cursor(this);
        uint magic = reader.UInt32();
        if (magic != 0x46554747) // "GGUF" read little-endian
        {
            throw Bad($"not a GGUF file (magic 0x{magic:X8}, expected \"GGUF\")");
        }
        uint version = reader.UInt32();
        if (version is 2 or 3)
        {
            Version = version;
        }
        else if (version == 1)
        {
            throw new NotSupportedException($"{path}: GGUF version 1 is not supported (only versions 2 and 3); re-convert the model with a current llama.cpp.");
        }
        else if (System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(version) is 2 or 3)
        {
            throw new NotSupportedException($"{path}: a big-endian GGUF is not supported (only little-endian).");
        }
        else
        {
            throw Bad($"unknown GGUF version {version}");
        }
        long tensorCount = reader.Count("tensor count");
        long kvCount = reader.Count("metadata key/value count");
        _metadata = new Dictionary<string, GgufValue>(StringComparer.Ordinal);
        var keys = new List<string>();
        for (long i = 0; i < kvCount; i++)
        {
            string key = reader.String();
            var type = (GgufValueType)reader.UInt32();
            GgufValue value = reader.Value(type, key, depth: 0);
            if (!_metadata.TryAdd(key, value))
            {
                throw Bad($"duplicate metadata key '{key}'");
            }
            keys.Add(key);
        }
        MetadataKeys = keys;
        Alignment = DefaultAlignment;
        if (_metadata.TryGetValue("general.alignment", out GgufValue? alignment))
        {
            long a = alignment.IsInteger ? alignment.AsInt64() : 0;
            if (a <= 0 || a > 1 << 20 || (a & (a - 1)) != 0)
            {
                throw Bad($"general.alignment {alignment} is not a power of two");
            }
            Alignment = (int)a;
        }
        var tensors = new List<GgufTensorInfo>();
        _tensorsByName = new Dictionary<string, GgufTensorInfo>(StringComparer.Ordinal);
        for (long i = 0; i < tensorCount; i++)
        {
            string name = reader.String();
            uint nDims = reader.UInt32();
            if (nDims is 0 or > 4)
            {
                throw Bad($"tensor '{name}' has {nDims} dimensions (ggml allows 1 to 4)");
            }
            var dims = new long[nDims];
            for (int d = 0; d < nDims; d++)
            {
                ulong ne = reader.UInt64();
                if (ne == 0 || ne > long.MaxValue / 8)
                {
                    throw Bad($"tensor '{name}' has dimension {d} of size {ne}");
                }
                dims[d] = (long)ne;
            }
            var type = (GgmlType)reader.UInt32();
            ulong offset = reader.UInt64();
            if (offset % (ulong)Alignment != 0 || offset > (ulong)length)
            {
                throw Bad($"tensor '{name}' has data offset {offset}, not a multiple of the alignment {Alignment} inside the file");
            }
            var info = new GgufTensorInfo(name, dims, type, (long)offset);
            if (!_tensorsByName.TryAdd(name, info))
            {
                throw Bad($"duplicate tensor name '{name}'");
            }
            tensors.Add(info);
        }
        Tensors = tensors;
        DataOffset = (reader.Position + Alignment - 1) / Alignment * Alignment;
        foreach (GgufTensorInfo t in tensors)
        {
            // Unsupported types are refused when read, not here: a file can be listed whatever it holds.
            if (GgmlTypes.IsSupported(t.Type))
            {
                long end = DataOffset + t.Offset + t.ByteCount;
                if (end > length)
                {
                    throw Bad($"tensor '{t.Name}' ({t.Type}, [{string.Join(", ", t.Dimensions)}]) runs past the end of the file ({end} > {length} bytes)");
                }
            }
        }
    }

    /// <summary>The path the file was opened from.</summary>
    public string Path { get; }

    /// <summary>The GGUF version (2 or 3).</summary>
    public uint Version { get; }

    /// <summary>The data alignment (general.alignment, default 32).</summary>
    public int Alignment { get; }

    /// <summary>Absolute file offset of the data section.</summary>
    public long DataOffset { get; }

    /// <summary>Every metadata key/value.</summary>
    public IReadOnlyDictionary<string, GgufValue> Metadata => _metadata;

    /// <summary>The metadata keys in file order.</summary>
    public IReadOnlyList<string> MetadataKeys { get; }

    /// <summary>Every tensor info in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <summary>general.architecture (e.g. llama, qwen2moe), or null when absent.</summary>
    public string? Architecture => GetString("general.architecture");

    /// <summary>Whether the file at <paramref name="path"/> starts with the GGUF magic (false when it cannot be read).</summary>
    public static bool HasMagic(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            Span<byte> magic = stackalloc byte[4];
            return stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual("GGUF"u8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Opens and memory-maps <paramref name="path"/>, parsing everything before the tensor data.</summary>
    public static GgufFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        long length = new FileInfo(path).Length;
        if (length < 24)
        {
            throw new InvalidDataException($"{path}: not a GGUF file ({length} bytes is shorter than the GGUF header).");
        }
        MemoryMappedFile map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        bool acquired = false;
        try
        {
            view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            acquired = true;
            return new GgufFile(path, map, view, pointer + view.PointerOffset, length);
        }
        catch
        {
            if (acquired)
            {
                view!.SafeMemoryMappedViewHandle.ReleasePointer();
            }
            view?.Dispose();
            map.Dispose();
            throw;
        }
    }

    /// <summary>The tensor named <paramref name="name"/>, or null.</summary>
    public GgufTensorInfo? FindTensor(string name) => _tensorsByName.GetValueOrDefault(name);

    /// <summary>The tensor named <paramref name="name"/>; throws KeyNotFoundException naming the file when absent.</summary>
    public GgufTensorInfo GetTensor(string name) =>
        FindTensor(name) ?? throw new KeyNotFoundException($"{Path}: no tensor '{name}'.");

    /// <summary>The metadata value, or null.</summary>
    public GgufValue? Find(string key) => _metadata.GetValueOrDefault(key);

    /// <summary>A string value, or null when absent (throws when present with another type).</summary>
    public string? GetString(string key) => Find(key)?.AsString();

    /// <summary>An integer value, or null when absent (throws when present with another type).</summary>
    public long? GetInteger(string key) => Find(key) is { } v ? (v.IsInteger ? v.AsInt64() : throw TypeError(key, v, "an integer")) : null;

    /// <summary>A number (float or integer) as a double, or null when absent.</summary>
    public double? GetNumber(string key) => Find(key)?.AsDouble();

    /// <summary>A bool value, or null when absent.</summary>
    public bool? GetBool(string key) => Find(key)?.AsBool();

    /// <summary>
    /// The raw bytes of a tensor (or of the elements [<paramref name="firstElement"/>,
    /// <paramref name="firstElement"/> + <paramref name="elementCount"/>) of it, which must be whole blocks)
    /// as a span over the mapping. Valid until the file is disposed. Limited to 2 GiB per call.
    /// </summary>
    public ReadOnlySpan<byte> GetBytes(GgufTensorInfo tensor, long firstElement, long elementCount)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (firstElement < 0 || elementCount < 0 || firstElement + elementCount > tensor.ElementCount)
        {
            throw new ArgumentOutOfRangeException(nameof(elementCount), $"elements [{firstElement}, {firstElement + elementCount}) are outside tensor '{tensor.Name}' ({tensor.ElementCount} elements).");
        }
        long start = DataOffset + tensor.Offset + GgmlTypes.ByteCount(tensor.Type, firstElement);
        long count = GgmlTypes.ByteCount(tensor.Type, elementCount);
        if (count > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(elementCount), $"{count} bytes is more than one span can hold; read the tensor in slices.");
        }
        if (start + count > _length)
        {
            throw Bad($"tensor '{tensor.Name}' runs past the end of the file");
        }
        return new ReadOnlySpan<byte>(_base + start, (int)count);
    }

    /// <summary>Reads a whole tensor as float32 in its stored element order (PyTorch row-major of <see cref="GgufTensorInfo.TorchShape"/>).</summary>
    public void ReadFloat32(GgufTensorInfo tensor, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (destination.Length != tensor.ElementCount)
        {
            throw new ArgumentException($"tensor '{tensor.Name}' has {tensor.ElementCount} elements; the destination holds {destination.Length}.", nameof(destination));
        }
        ReadFloat32(tensor, 0, destination);
    }

    /// <summary>
    /// Reads <paramref name="destination"/>.Length elements starting at <paramref name="firstElement"/>
    /// (both whole blocks of the tensor's type), dequantized to float32.
    /// </summary>
    public void ReadFloat32(GgufTensorInfo tensor, long firstElement, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!GgmlTypes.IsSupported(tensor.Type))
        {
            throw new NotSupportedException($"{Path}: tensor '{tensor.Name}': {GgmlTypes.Unsupported(tensor.Type).Message}");
        }
        // In chunks so that no single span of source bytes passes 2 GiB.
        int block = GgmlTypes.BlockElements(tensor.Type);
        int chunk = 1 << 24; // elements, a multiple of every block size
        for (int done = 0; done < destination.Length;)
        {
            int n = Math.Min(chunk, destination.Length - done);
            if (n % block != 0)
            {
                throw new ArgumentException($"reading {destination.Length} elements of '{tensor.Name}' from element {firstElement} splits a {tensor.Type} block.", nameof(destination));
            }
            GgmlDequantizer.ToFloat32(tensor.Type, GetBytes(tensor, firstElement + done, n), destination.Slice(done, n));
            done += n;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }

    private InvalidDataException TypeError(string key, GgufValue v, string wanted) =>
        new($"{Path}: metadata '{key}' is {v.Type}, expected {wanted}.");

    private InvalidDataException Bad(string what) => new($"{Path}: malformed GGUF: {what}.");

    /// <summary>A bounds-checked reader over the mapping, for the header.</summary>
    private sealed class Cursor(GgufFile file)
    {
        public long Position { get; private set; }

        private byte* Take(long n)
        {
            if (n < 0 || Position + n > file._length)
            {
                throw file.Bad($"unexpected end of file at byte {Position} (needed {n} more)");
            }
            byte* p = file._base + Position;
            Position += n;
            return p;
        }

        public byte UInt8() => *Take(1);

        public uint UInt32() => System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(Take(4), 4));

        public ulong UInt64() => System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(Take(8), 8));

        public long Count(string what)
        {
            ulong n = UInt64();
            if (n > (ulong)file._length)
            {
                throw file.Bad($"{what} {n} is larger than the file");
            }
            return (long)n;
        }

        public string String()
        {
            long n = Count("string length");
            if (n > int.MaxValue)
            {
                throw file.Bad($"string of {n} bytes");
            }
            return Encoding.UTF8.GetString(Take(n), (int)n);
        }

        public GgufValue Value(GgufValueType type, string key, int depth)
        {
            switch (type)
            {
                case GgufValueType.UInt8: return new GgufValue(type, UInt8());
                case GgufValueType.Int8: return new GgufValue(type, (sbyte)UInt8());
                case GgufValueType.UInt16: return new GgufValue(type, Read<ushort>());
                case GgufValueType.Int16: return new GgufValue(type, Read<short>());
                case GgufValueType.UInt32: return new GgufValue(type, UInt32());
                case GgufValueType.Int32: return new GgufValue(type, (int)UInt32());
                case GgufValueType.Float32: return new GgufValue(type, Read<float>());
                case GgufValueType.Bool:
                    byte b = UInt8();
                    return b <= 1 ? new GgufValue(type, b == 1) : throw file.Bad($"metadata '{key}': bool byte {b}");
                case GgufValueType.String: return new GgufValue(type, String());
                case GgufValueType.UInt64: return new GgufValue(type, UInt64());
                case GgufValueType.Int64: return new GgufValue(type, (long)UInt64());
                case GgufValueType.Float64: return new GgufValue(type, Read<double>());
                case GgufValueType.Array:
                    var elementType = (GgufValueType)UInt32();
                    long n = Count($"metadata '{key}' array length");
                    return new GgufValue(type, ReadArray(elementType, n, key, depth), elementType);
                default:
                    throw file.Bad($"metadata '{key}' has unknown value type {(int)type}");
            }
        }

        private T Read<T>()
            where T : unmanaged
        {
            // GGUF is little-endian, as is every platform .NET runs this on.
            return *(T*)Take(sizeof(T));
        }

        private T[] ReadSpan<T>(long n)
            where T : unmanaged
        {
            if (n > int.MaxValue / sizeof(T))
            {
                throw file.Bad($"array of {n} elements");
            }
            return new ReadOnlySpan<T>(Take(n * sizeof(T)), (int)n).ToArray();
        }

        private Array ReadArray(GgufValueType elementType, long n, string key, int depth)
        {
            switch (elementType)
            {
                case GgufValueType.UInt8: return ReadSpan<byte>(n);
                case GgufValueType.Int8: return ReadSpan<sbyte>(n);
                case GgufValueType.UInt16: return ReadSpan<ushort>(n);
                case GgufValueType.Int16: return ReadSpan<short>(n);
                case GgufValueType.UInt32: return ReadSpan<uint>(n);
                case GgufValueType.Int32: return ReadSpan<int>(n);
                case GgufValueType.Float32: return ReadSpan<float>(n);
                case GgufValueType.UInt64: return ReadSpan<ulong>(n);
                case GgufValueType.Int64: return ReadSpan<long>(n);
                case GgufValueType.Float64: return ReadSpan<double>(n);
                case GgufValueType.Bool:
                    byte[] bytes = ReadSpan<byte>(n);
                    return Array.ConvertAll(bytes, b => b != 0);
                case GgufValueType.String:
                    var strings = new string[n];
                    for (long i = 0; i < n; i++)
                    {
                        strings[i] = String();
                    }
                    return strings;
                case GgufValueType.Array:
                    if (depth > 8)
                    {
                        throw file.Bad($"metadata '{key}' nests arrays too deeply");
                    }
                    var arrays = new GgufValue[n];
                    for (long i = 0; i < n; i++)
                    {
                        var inner = (GgufValueType)UInt32();
                        long m = Count($"metadata '{key}' array length");
                        arrays[i] = new GgufValue(GgufValueType.Array, ReadArray(inner, m, key, depth + 1), inner);
                    }
                    return arrays;
                default:
                    throw file.Bad($"metadata '{key}' has an array of unknown type {(int)elementType}");
            }
        }
    }
}
