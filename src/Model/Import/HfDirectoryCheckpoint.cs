using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MoeServe.Model.Import;

/// <summary>
/// A Hugging Face model directory as an <see cref="IHfCheckpoint"/>: config.json, optional
/// generation_config.json, and model.safetensors or the shards model.safetensors.index.json lists.
/// Each shard is memory-mapped; a read converts one tensor (F32, F16 or BF16) straight from the
/// mapping into the caller's buffer, so an import holds one tensor at a time, never the model.
/// </summary>
public sealed class HfDirectoryCheckpoint : IHfCheckpoint
{
    /// <summary>The single-file weights name.</summary>
    public const string WeightsFileName = "model.safetensors";

    /// <summary>The sharded weights' index name.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    private const int ChunkElements = 1 << 20;

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly List<Shard> _shards = [];

    private HfDirectoryCheckpoint(string directory, JsonObject config, JsonObject? generation)
    {
        Source = directory;
        Config = config;
        GenerationConfig = generation;
    }

    /// <inheritdoc/>
    public string Source { get; }

    /// <inheritdoc/>
    public JsonObject Config { get; }

    /// <inheritdoc/>
    public JsonObject? GenerationConfig { get; }

    /// <inheritdoc/>
    public IReadOnlyCollection<string> TensorNames => _entries.Keys;

    /// <summary>The safetensors dtype of every tensor ("F32", "F16", "BF16", ...), for messages and refusals.</summary>
    public IReadOnlyDictionary<string, string> StoredTypes => _entries.ToDictionary(e => e.Key, e => e.Value.DType, StringComparer.Ordinal);

    /// <summary>Opens a Hugging Face directory: parses the JSON files and every shard's header, maps the shards.</summary>
    /// <param name="directory">The directory.</param>
    /// <exception cref="InvalidDataException">A file is missing or malformed, or a tensor has an unsupported dtype; the message names it.</exception>
    public static HfDirectoryCheckpoint Open(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"--from: directory not found: {directory}");
        }

        string configPath = Path.Combine(directory, "config.json");
        var config = ReadObject(configPath) ?? throw new InvalidDataException($"{directory}: no config.json (not a Hugging Face model directory).");
        var generation = ReadObject(Path.Combine(directory, "generation_config.json"));
        var checkpoint = new HfDirectoryCheckpoint(directory, config, generation);
        try
        {
            checkpoint.MapWeights();
            return checkpoint;
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<long> Shape(string name) => Find(name).Shape;

    /// <inheritdoc/>
    public unsafe void ReadFloat32(string name, Span<float> destination)
    {
        var entry = Find(name);
        long count = entry.Shape.Aggregate(1L, (a, b) => a * b);
        if (destination.Length != count)
        {
            throw new ArgumentException($"Tensor '{name}' has {count} elements, the destination {destination.Length}.", nameof(destination));
        }

        int width = ElementBytes(entry.DType);
        var shard = _shards[entry.Shard];
        byte* basePointer = null;
        shard.View.SafeMemoryMappedViewHandle.AcquirePointer(ref basePointer);
        try
        {
            byte* data = basePointer + shard.View.PointerOffset + shard.DataStart + entry.Begin;
            for (long done = 0; done < count; done += ChunkElements)
            {
                int n = (int)Math.Min(ChunkElements, count - done);
                var bytes = new ReadOnlySpan<byte>(data + (done * width), n * width);
                var target = destination.Slice((int)done, n);
                switch (entry.DType)
                {
                    case "F32":
                        MemoryMarshal.Cast<byte, float>(bytes).CopyTo(target);
                        break;
                    case "F16":
                        TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(bytes), target);
                        break;
                    default: // BF16: the upper half of a float32.
                        var halves = MemoryMarshal.Cast<byte, ushort>(bytes);
                        var bits = MemoryMarshal.Cast<float, uint>(target);
                        for (int i = 0; i < n; i++)
                        {
                            bits[i] = (uint)halves[i] << 16;
                        }

                        break;
                }
            }
        }
        finally
        {
            shard.View.SafeMemoryMappedViewHandle.ReleasePointer();
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var shard in _shards)
        {
            shard.View.Dispose();
            shard.File.Dispose();
        }

        _shards.Clear();
    }

    private Entry Find(string name) =>
        _entries.TryGetValue(name, out var entry) ? entry : throw new KeyNotFoundException($"{Source}: no tensor '{name}'.");

    private void MapWeights()
    {
        string index = Path.Combine(Source, IndexFileName);
        string single = Path.Combine(Source, WeightsFileName);
        List<string> files;
        if (File.Exists(index))
        {
            var map = ReadObject(index)?["weight_map"] as JsonObject ?? throw new InvalidDataException($"{index}: no weight_map object.");
            files = map.Select(p => (string?)p.Value ?? throw new InvalidDataException($"{index}: weight_map['{p.Key}'] is not a file name."))
                .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        }
        else if (File.Exists(single))
        {
            files = [WeightsFileName];
        }
        else
        {
            throw new InvalidDataException($"{Source}: neither {WeightsFileName} nor {IndexFileName} (only safetensors weights are supported).");
        }

        foreach (string file in files)
        {
            if (file.Contains('/', StringComparison.Ordinal) || file.Contains('\\', StringComparison.Ordinal) || file.Contains("..", StringComparison.Ordinal))
            {
                throw new InvalidDataException($"{index}: shard name '{file}' must be a plain file name.");
            }

            MapShard(Path.Combine(Source, file));
        }
    }

    private void MapShard(string path)
    {
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"missing weights shard: {path}");
        }

        long length = new FileInfo(path).Length;
        byte[] header;
        using (var stream = File.OpenRead(path))
        {
            Span<byte> prefix = stackalloc byte[8];
            stream.ReadExactly(prefix);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerLength > 100UL * 1024 * 1024 || (long)headerLength + 8 > length)
            {
                throw new InvalidDataException($"{path}: safetensors header length {headerLength} is impossible for a {length}-byte file.");
            }

            header = new byte[headerLength];
            stream.ReadExactly(header);
        }

        long dataStart = 8 + header.Length;
        int shardIndex = _shards.Count;
        using (var doc = JsonDocument.Parse(header))
        {
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    continue;
                }

                string dtype = property.Value.GetProperty("dtype").GetString() ?? "";
                if (dtype is not ("F32" or "F16" or "BF16"))
                {
                    throw new UnsupportedCheckpointException($"unsupported dtype: tensor '{property.Name}' in {path} has dtype {dtype} (supported: F32, F16, BF16)");
                }

                long[] shape = property.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                var offsets = property.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                long count = shape.Aggregate(1L, (a, b) => a * b);
                if (offsets.Length != 2 || offsets[1] - offsets[0] != count * ElementBytes(dtype) || dataStart + offsets[1] > length)
                {
                    throw new InvalidDataException($"tensor '{property.Name}' in {path}: data_offsets [{string.Join(", ", offsets)}] do not fit its shape [{string.Join(", ", shape)}] x {dtype} or the file.");
                }

                if (!_entries.TryAdd(property.Name, new Entry(shardIndex, dtype, shape, offsets[0])))
                {
                    throw new InvalidDataException($"tensor '{property.Name}' appears in more than one shard ({path}).");
                }
            }
        }

        var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, capacity: 0, MemoryMappedFileAccess.Read);
        try
        {
            var view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            _shards.Add(new Shard(file, view, dataStart));
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static int ElementBytes(string dtype) => dtype == "F32" ? 4 : 2;

    private static JsonObject? ReadObject(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: the top level is not a JSON object.");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path} is not valid JSON: {ex.Message}", ex);
        }
    }

    private sealed record Entry(int Shard, string DType, long[] Shape, long Begin);

    private sealed record Shard(MemoryMappedFile File, MemoryMappedViewAccessor View, long DataStart);
}
