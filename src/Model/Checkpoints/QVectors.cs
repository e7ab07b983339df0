namespace MoeServe.Model;

/// <summary>
/// The check of per-layer q vectors (one per layer, one finite value per expert) that a checkpoint's balancing.json
/// and a manifest's routing share. Each words the model's sizes its own way: balancing.json against "the model",
/// the manifest against its own config fields.
/// </summary>
internal static class QVectors
{
    /// <param name="vectors">The vectors (null counts as none).</param>
    /// <param name="name">The field, named in messages (layers, routing.q, ...).</param>
    /// <param name="config">The model's configuration.</param>
    /// <param name="layersSaid">How a message states the model's layer count, e.g. "config.layers is 4".</param>
    /// <param name="expertsSaid">How a message states the model's expert count.</param>
    /// <param name="errors">Receives every problem.</param>
    public static void Validate(IReadOnlyList<float[]>? vectors, string name, ModelConfig config, string layersSaid, string expertsSaid, List<string> errors)
    {
        var q = vectors ?? [];
        if (q.Count != config.Layers)
        {
            errors.Add($"{name} has {q.Count} vectors, {layersSaid}.");
        }

        for (int l = 0; l < q.Count; l++)
        {
            if (q[l] is null || q[l].Length != config.Experts)
            {
                errors.Add($"{name}[{l}] has {q[l]?.Length ?? 0} values, {expertsSaid}.");
            }
            else if (Array.Exists(q[l], v => !float.IsFinite(v)))
            {
                errors.Add($"{name}[{l}] contains a non-finite value.");
            }
        }
    }
}
