using System.Text.Json.Nodes;

namespace MoeServe.Model.Import;

/// <summary>
/// A checkpoint to import, seen the way Hugging Face names it: config.json keys and tensor names
/// and layouts as the transformers library defines them for the family. A Hugging Face directory is
/// this as it stands; a GGUF file is mapped onto it (metadata to config keys, tensor names and
/// layouts to transformers'), so one importer serves both forms.
/// </summary>
public interface IHfCheckpoint : IDisposable
{
    /// <summary>Where the checkpoint came from (a path), named in messages.</summary>
    string Source { get; }

    /// <summary>config.json (for a GGUF, built from its metadata with the same keys).</summary>
    JsonObject Config { get; }

    /// <summary>generation_config.json when there is one.</summary>
    JsonObject? GenerationConfig { get; }

    /// <summary>Every tensor's transformers name.</summary>
    IReadOnlyCollection<string> TensorNames { get; }

    /// <summary>The shape of a tensor in transformers' layout (e.g. [out, in] for a Linear weight).</summary>
    IReadOnlyList<long> Shape(string name);

    /// <summary>
    /// Reads one tensor, converted to float32 (dequantized where stored quantized), row-major in
    /// transformers' layout, into <paramref name="destination"/> (its length is the product of the
    /// shape). Reads only that tensor: an import streams one tensor at a time.
    /// </summary>
    void ReadFloat32(string name, Span<float> destination);

    /// <summary>
    /// How a refusal names a config key and its value: <c>config.json: key = value</c> for a directory; a GGUF names
    /// the metadata key the value came from instead, so the message points at what is in the user's file.
    /// </summary>
    /// <param name="key">The config.json key (transformers' name).</param>
    /// <param name="value">Its value as JSON text.</param>
    string DescribeConfigValue(string key, string value) => $"config.json: {key} = {value}";
}
