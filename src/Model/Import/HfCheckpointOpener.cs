using MoeServe.Model.Gguf;

namespace MoeServe.Model.Import;

/// <summary>The one dispatch point from an import's --from path to an <see cref="IHfCheckpoint"/>.</summary>
public static class HfCheckpointOpener
{
    /// <summary>
    /// Opens <paramref name="path"/>: a directory is a Hugging Face model directory; a .gguf file (or any file
    /// starting with the GGUF magic) is mapped onto transformers' names by <see cref="GgufCheckpoint"/>.
    /// </summary>
    /// <param name="path">A Hugging Face directory or a GGUF file.</param>
    /// <exception cref="UnsupportedCheckpointException">The path is a kind of source this build cannot read, or a GGUF it refuses (architecture, tensor type, ...).</exception>
    public static IHfCheckpoint Open(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (Directory.Exists(path))
        {
            return HfDirectoryCheckpoint.Open(path);
        }

        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"--from: not found: {path}", path);
        }

        if (path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) || GgufFile.HasMagic(path))
        {
            try
            {
                return GgufCheckpoint.Open(path);
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException)
            {
                // The reader's refusals (architecture, tensor type, malformed file) already name the file, key and value.
                throw new UnsupportedCheckpointException(e.Message, e);
            }
        }

        throw new UnsupportedCheckpointException($"--from: {path} is neither a Hugging Face model directory (config.json and safetensors weights) nor a GGUF file.");
    }
}
