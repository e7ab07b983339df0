namespace MoeServe.Model;

/// <summary>
/// Replaces a manifest's served q and keeps the replaced one recoverable (<see cref="ManifestRouting.PreviousQ"/>):
/// what <c>calibrate</c> writes and what <c>calibrate --restore</c> undoes. One level of history: the
/// previous q of a calibration is the q that was served before it.
/// </summary>
public static class ManifestQUpdate
{
    /// <summary>The manifest with <paramref name="q"/> served (method "bip", <paramref name="source"/> recorded) and the current q kept as previous.</summary>
    /// <param name="manifest">The model's manifest.</param>
    /// <param name="q">The new per-layer q (shape of the model).</param>
    /// <param name="source">How it was made.</param>
    public static ModelManifest WithCalibratedQ(ModelManifest manifest, IReadOnlyList<float[]> q, ManifestQSource source)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(source);
        CheckShape(manifest, q);
        var routing = manifest.Routing;
        return manifest with
        {
            Routing = routing with
            {
                Method = "bip",
                Q = [.. q.Select(v => v.ToArray())],
                QSource = source,
                PreviousQ = new ManifestPreviousQ { Method = routing.Method, Q = routing.Q, QSource = routing.QSource },
            },
        };
    }

    /// <summary>The manifest with its previous q served again (and the replaced one kept as previous, so a second restore undoes the first).</summary>
    /// <param name="manifest">A manifest with <see cref="ManifestRouting.PreviousQ"/>.</param>
    /// <exception cref="InvalidOperationException">The manifest keeps no previous q.</exception>
    public static ModelManifest Restore(ModelManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var routing = manifest.Routing;
        var previous = routing.PreviousQ ?? throw new InvalidOperationException($"The manifest of '{manifest.Name}' keeps no previous q: there is nothing to restore.");
        return manifest with
        {
            Routing = routing with
            {
                Method = previous.Method,
                Q = previous.Q,
                QSource = previous.QSource,
                PreviousQ = new ManifestPreviousQ { Method = routing.Method, Q = routing.Q, QSource = routing.QSource },
            },
        };
    }

    private static void CheckShape(ModelManifest manifest, IReadOnlyList<float[]> q)
    {
        var config = manifest.Config;
        if (q.Count != config.Layers || q.Any(v => v is null || v.Length != config.Experts || Array.Exists(v, x => !float.IsFinite(x))))
        {
            throw new ArgumentException($"q must be {config.Layers} layers x {config.Experts} finite values.", nameof(q));
        }
    }
}
