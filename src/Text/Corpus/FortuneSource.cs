namespace MoeServe.Text.Corpus;

/// <summary>
/// Fortune cookie files from Debian's fortunes and fortunes-min (/usr/share/games/fortunes): each file
/// is quotations separated by lines holding a single "%". One document per quotation, grouped by file so
/// that whole files are held out.
/// </summary>
public sealed class FortuneSource : ICorpusSource
{
    /// <summary>Where Debian installs the fortune files.</summary>
    public const string DefaultDirectory = "/usr/share/games/fortunes";

    private readonly string _directory;

    /// <summary>Creates the source.</summary>
    /// <param name="directory">Directory of fortune files.</param>
    public FortuneSource(string directory = DefaultDirectory)
    {
        _directory = directory;
    }

    /// <inheritdoc/>
    public string Name => "fortunes";

    /// <inheritdoc/>
    public IReadOnlyList<string> DebianPackages { get; } = ["fortunes", "fortunes-min"];

    /// <inheritdoc/>
    public bool IsAvailable() => Directory.Exists(_directory) && FortuneFiles().Any();

    /// <inheritdoc/>
    public IEnumerable<CorpusDocument> ReadDocuments()
    {
        foreach (string path in FortuneFiles())
        {
            foreach (var document in Parse(Path.GetFileName(path), File.ReadAllText(path)))
            {
                yield return document;
            }
        }
    }

    /// <summary>Splits one fortune file into its quotations.</summary>
    /// <param name="fileName">The file's name, used as the group.</param>
    /// <param name="text">The file's contents.</param>
    public static IReadOnlyList<CorpusDocument> Parse(string fileName, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var documents = new List<CorpusDocument>();
        var current = new List<string>();
        foreach (string line in text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n'))
        {
            if (line.TrimEnd() == "%")
            {
                Add();
            }
            else
            {
                current.Add(line);
            }
        }

        Add();
        return documents;

        void Add()
        {
            string body = string.Join('\n', current);
            current.Clear();
            if (!string.IsNullOrWhiteSpace(body))
            {
                documents.Add(new CorpusDocument("fortunes", fileName, $"{fileName}#{documents.Count + 1}", body));
            }
        }
    }

    /// <summary>Fortune text files: not the .dat indexes, not the .u8 links to the same text.</summary>
    private IEnumerable<string> FortuneFiles() =>
        Directory.Exists(_directory)
            ? Directory.EnumerateFiles(_directory)
                .Where(p => Path.GetExtension(p).Length == 0 && !new FileInfo(p).Attributes.HasFlag(FileAttributes.ReparsePoint))
                .Order(StringComparer.Ordinal)
            : [];
}
