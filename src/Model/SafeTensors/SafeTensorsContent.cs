namespace MoeServe.Model;

/// <summary>The tensors (widened to float32) and metadata read from one safetensors file.</summary>
public sealed class SafeTensorsContent : ITensorSource
{
    internal SafeTensorsContent(string source, IReadOnlyDictionary<string, FloatTensor> tensors, IReadOnlyDictionary<string, TensorDType> storedTypes, IReadOnlyDictionary<string, string> metadata)
    {
        Source = source;
        Tensors = tensors;
        StoredTypes = storedTypes;
        Metadata = metadata;
    }

    /// <summary>Wraps in-memory float32 tensors (e.g. straight from a trainer) without a file round trip.</summary>
    /// <param name="tensors">Tensors by name (not copied).</param>
    /// <param name="source">Name used in error messages.</param>
    public static SafeTensorsContent FromTensors(IReadOnlyDictionary<string, FloatTensor> tensors, string source = "in-memory tensors")
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var types = tensors.Keys.ToDictionary(k => k, _ => TensorDType.Float32, StringComparer.Ordinal);
        return new SafeTensorsContent(source, tensors, types, new Dictionary<string, string>());
    }

    /// <summary>The file or stream the tensors came from.</summary>
    public string Source { get; }

    /// <summary>Every tensor by name, as float32.</summary>
    public IReadOnlyDictionary<string, FloatTensor> Tensors { get; }

    /// <summary>How each tensor was stored in the file.</summary>
    public IReadOnlyDictionary<string, TensorDType> StoredTypes { get; }

    /// <summary>The header's "__metadata__" map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <inheritdoc/>
    public int[]? ShapeOf(string name) => Tensors.TryGetValue(name, out var tensor) ? tensor.Shape : null;

    /// <inheritdoc/>
    public FloatTensor Read(string name) => Get(name);

    /// <inheritdoc/>
    public string DescribeName(string name) => name;

    /// <summary>The named tensor; throws <see cref="KeyNotFoundException"/> naming the tensor and file when missing.</summary>
    /// <param name="name">Tensor name.</param>
    public FloatTensor Get(string name) =>
        Tensors.TryGetValue(name, out var tensor) ? tensor : throw new KeyNotFoundException($"Tensor '{name}' is missing from {Source}.");

    /// <summary>The named tensor, checking its shape; throws <see cref="InvalidDataException"/> naming tensor, file and both shapes on mismatch.</summary>
    /// <param name="name">Tensor name.</param>
    /// <param name="shape">Expected shape.</param>
    public FloatTensor Get(string name, params int[] shape)
    {
        var tensor = Get(name);
        if (!tensor.Shape.AsSpan().SequenceEqual(shape))
        {
            throw new InvalidDataException($"Tensor '{name}' in {Source} has shape {tensor.ShapeText}, expected [{string.Join(", ", shape)}].");
        }

        return tensor;
    }
}
