namespace MoeServe.Model.Import;

/// <summary>The one dispatch point from an import's --from path to an <see cref="IHfCheckpoint"/>.</summary>
public static class HfCheckpointOpener
{
    /// <summary>
    /// Opens <paramref name="path"/>: a directory is a Hugging Face model directory; a .gguf file is
    /// refused until the GGUF reader (mapping GGUF onto transformers' names) is merged here.
    /// </summary>
    /// <param name="path">A Hugging Face directory (or, later, a .gguf file).</param>
    /// <exception cref="UnsupportedCheckpointException">The path is a kind of source this build cannot read.</exception>
    public static IHfCheckpoint Open(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (Directory.Exists(path))
        {
            return HfDirectoryCheckpoint.Open(path);
        }

        if (path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
        {
            // Merge point for the GGUF engineer: return their IHfCheckpoint for GGUF files here.
            throw new UnsupportedCheckpointException($"--from: {path} is a GGUF file; this build imports Hugging Face directories only (GGUF import is not merged yet).");
        }

        if (File.Exists(path))
        {
            throw new UnsupportedCheckpointException($"--from: {path} is a file; pass the Hugging Face model directory that holds config.json and the safetensors weights.");
        }

        throw new DirectoryNotFoundException($"--from: not found: {path}");
    }
}
