using System.Text;

namespace MoeServe.Text.Corpus;

/// <summary>
/// Any UTF-8 text file or folder of files (<c>corpus --input PATH</c>). A file that contains
/// &lt;|endoftext|&gt; markers is cut at them; otherwise it is cut at blank lines into documents of at
/// least <see cref="ChunkCharacters"/> characters. For a folder, each file is a split group (whole
/// files are held out); for a single file, each document is its own group.
/// </summary>
public sealed class PlainTextSource : ICorpusSource
{
    /// <summary>Minimum size of a document cut at blank lines.</summary>
    public const int ChunkCharacters = 4096;

    private readonly string _path;

    /// <summary>Creates the source.</summary>
    /// <param name="path">A file or a directory (read recursively).</param>
    public PlainTextSource(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _path = path;
    }

    /// <inheritdoc/>
    public string Name => "input";

    /// <inheritdoc/>
    public IReadOnlyList<string> DebianPackages => [];

    /// <inheritdoc/>
    public bool IsAvailable() => File.Exists(_path) || Directory.Exists(_path);

    /// <inheritdoc/>
    public IEnumerable<CorpusDocument> ReadDocuments()
    {
        if (File.Exists(_path))
        {
            var pieces = Cut(File.ReadAllText(_path));
            string name = Path.GetFileName(_path);
            for (int i = 0; i < pieces.Count; i++)
            {
                string title = $"{name}#{i + 1}";
                yield return new CorpusDocument(Name, title, title, pieces[i]);
            }

            yield break;
        }

        var files = Directory.EnumerateFiles(_path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal);
        foreach (string file in files)
        {
            string text = File.ReadAllText(file);
            if (text.Contains('\0', StringComparison.Ordinal))
            {
                continue; // binary, not text
            }

            string relative = Path.GetRelativePath(_path, file);
            var pieces = Cut(text);
            for (int i = 0; i < pieces.Count; i++)
            {
                yield return new CorpusDocument(Name, relative, $"{relative}#{i + 1}", pieces[i]);
            }
        }
    }

    /// <summary>Cuts text into documents: at markers when there are any, else at blank lines into chunks.</summary>
    /// <param name="text">File contents.</param>
    public static IReadOnlyList<string> Cut(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Contains(SpecialTokens.EndOfText, StringComparison.Ordinal))
        {
            return [.. text.Split(SpecialTokens.EndOfText).Where(p => !string.IsNullOrWhiteSpace(p))];
        }

        var chunks = new List<string>();
        var chunk = new StringBuilder();
        foreach (string paragraph in text.Replace("\r\n", "\n", StringComparison.Ordinal).Split("\n\n"))
        {
            chunk.Append(paragraph).Append("\n\n");
            if (chunk.Length >= ChunkCharacters)
            {
                chunks.Add(chunk.ToString());
                chunk.Clear();
            }
        }

        if (!string.IsNullOrWhiteSpace(chunk.ToString()))
        {
            chunks.Add(chunk.ToString());
        }

        return chunks;
    }
}
