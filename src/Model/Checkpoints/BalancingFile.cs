using System.Text.Json;

namespace MoeServe.Model;

/// <summary>
/// Reads and writes the per-layer q vectors of a checkpoint's balancing.json in the router library's
/// format (<c>{"formatVersion": 1, "method": "bip", "experts": m, "layers": [[q...], ...]}</c>,
/// MoeServe.Router.BalancingState). Kept here so export does not depend on the router library.
/// </summary>
public static class BalancingFile
{
    /// <summary>The format version of balancing.json this reader understands.</summary>
    public const int FormatVersion = 1;

    /// <summary>Reads method and q; every problem (including a mismatch with the config) listed in one exception.</summary>
    /// <param name="path">Path of balancing.json.</param>
    /// <param name="config">The model the state must fit (layers x experts).</param>
    public static (string Method, float[][] Q) Read(string path, ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Balancing state not found: {path}", path);
        }

        var doc = ModelJson.Deserialize<Document>(File.ReadAllText(path), path, "valid JSON");
        var errors = new List<string>();
        if (doc is null)
        {
            throw new InvalidDataException($"{path} is empty.");
        }

        if (doc.FormatVersion != FormatVersion)
        {
            errors.Add($"formatVersion must be {FormatVersion}, got {doc.FormatVersion}.");
        }

        if (string.IsNullOrWhiteSpace(doc.Method))
        {
            errors.Add("method is missing.");
        }

        var layers = doc.Layers ?? [];
        QVectors.Validate(layers, "layers", config, $"the model has {config.Layers} layers", $"the model has {config.Experts} experts", errors);

        if (errors.Count > 0)
        {
            throw new InvalidDataException(ErrorList.Format($"Invalid balancing state {path}", errors));
        }

        return (doc.Method!, layers);
    }

    /// <summary>Writes q in the router library's format.</summary>
    /// <param name="path">Destination path.</param>
    /// <param name="method">Method that produced q ("bip", "lossfree", "topk", ...).</param>
    /// <param name="q">One vector per layer, all the same length.</param>
    public static void Write(string path, string method, IReadOnlyList<float[]> q)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentException.ThrowIfNullOrWhiteSpace(method);
        int experts = q.Count == 0 ? 0 : q[0].Length;
        File.WriteAllText(path, JsonSerializer.Serialize(new Document(FormatVersion, method, experts, [.. q]), ModelJson.Options));
    }

    private sealed record Document(int FormatVersion, string? Method, int Experts, float[][]? Layers);
}
