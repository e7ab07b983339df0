using System.Text;

namespace MoeServe.Text.Corpus;

/// <summary>
/// Builds a corpus: reads every source's documents, normalises them (<see cref="TextNormalizer"/>),
/// holds out whole groups for validation (<see cref="CorpusSplitter"/>), and writes train.txt,
/// validation.txt (documents each followed by &lt;|endoftext|&gt;) and split.json.
/// </summary>
public sealed class CorpusBuilder
{
    /// <summary>Training file name.</summary>
    public const string TrainFileName = "train.txt";

    /// <summary>Validation file name.</summary>
    public const string ValidationFileName = "validation.txt";

    /// <summary>Split record file name.</summary>
    public const string SplitFileName = "split.json";

    private readonly CorpusOptions _options;

    /// <summary>Creates a builder.</summary>
    /// <param name="options">Validated settings; every problem is reported at once.</param>
    public CorpusBuilder(CorpusOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid corpus options:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", errors));
        }

        _options = options;
    }

    /// <summary>The normalisation steps, as recorded in split.json.</summary>
    public static IReadOnlyList<string> NormalizationSteps =>
    [
        TextNormalizer.IsNfcAvailable ? "unicode NFC" : "unicode NFC SKIPPED (runtime in invariant globalization mode)",
        "UTF-8 mojibake (UTF-8 read as Latin-1) repaired",
        "CRLF/CR to LF",
        "backspace overstrike applied",
        "tabs expanded to 8-column stops",
        "other control characters and BOMs removed",
        "trailing whitespace removed, at most one blank line in a row, no leading/trailing blank lines, one final newline",
        "literal <|endoftext|> removed from document text",
        "bible: verse numbers removed, one verse per line, chapter heading line kept",
    ];

    /// <summary>
    /// The Debian packages that provide the files of every unavailable source, each once, in source
    /// order; empty when every source can be read.
    /// </summary>
    /// <param name="sources">Sources to check.</param>
    public static IReadOnlyList<string> MissingPackages(IEnumerable<ICorpusSource> sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        return [.. sources.Where(s => !s.IsAvailable()).SelectMany(s => s.DebianPackages).Distinct(StringComparer.Ordinal)];
    }

    /// <summary>Reads, normalises, splits and writes the corpus.</summary>
    /// <param name="sources">Sources in the order their documents appear in the files.</param>
    /// <param name="log">Receives one line per step; may be null.</param>
    /// <returns>The split record, as written to split.json.</returns>
    /// <exception cref="MissingCorpusPackagesException">A source's files are absent; names the packages to install.</exception>
    public CorpusSplitReport Build(IReadOnlyList<ICorpusSource> sources, IProgress<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(sources);
        if (sources.Count == 0)
        {
            throw new ArgumentException("At least one source is needed.", nameof(sources));
        }

        // Checked before anything is written, so a missing package never leaves half a corpus behind.
        var missing = MissingPackages(sources);
        if (missing.Count > 0)
        {
            throw new MissingCorpusPackagesException(missing);
        }

        var documents = new List<(CorpusDocument Document, long Bytes)>();
        foreach (var source in sources)
        {
            int before = documents.Count;
            foreach (var document in source.ReadDocuments())
            {
                string text = TextNormalizer.Normalize(document.Text);
                if (text.Length > 0)
                {
                    documents.Add((document with { Text = text }, Encoding.UTF8.GetByteCount(text)));
                }
            }

            log?.Report($"{source.Name}: {documents.Count - before} documents, {documents.Skip(before).Sum(d => d.Bytes):N0} bytes");
        }

        var held = new CorpusSplitter(_options.ValidationFraction, _options.Seed).ChooseValidationGroups(documents);
        bool IsHeld(CorpusDocument d) => held.Contains(CorpusSplitter.Key(d.Source, d.Group));

        Directory.CreateDirectory(_options.OutputDirectory);
        var train = Write(TrainFileName, documents.Where(d => !IsHeld(d.Document)).Select(d => d.Document));
        var validation = Write(ValidationFileName, documents.Where(d => IsHeld(d.Document)).Select(d => d.Document));
        var report = new CorpusSplitReport
        {
            Seed = _options.Seed,
            ValidationFraction = _options.ValidationFraction,
            Normalization = NormalizationSteps,
            Sources = [.. sources.Select(s => new SourceSplit(s.Name, s.DebianPackages, Side(documents, s.Name, false, IsHeld), Side(documents, s.Name, true, IsHeld)))],
            Train = train,
            Validation = validation,
        };
        TextJson.Write(Path.Combine(_options.OutputDirectory, SplitFileName), report);
        log?.Report($"{TrainFileName}: {train.Documents} documents, {train.Bytes:N0} bytes; {ValidationFileName}: {validation.Documents} documents, {validation.Bytes:N0} bytes");
        return report;
    }

    private static SplitSide Side(List<(CorpusDocument Document, long Bytes)> documents, string source, bool heldOut, Func<CorpusDocument, bool> isHeld)
    {
        var side = documents.Where(d => d.Document.Source == source && isHeld(d.Document) == heldOut).ToList();
        return new SplitSide(side.Count, side.Sum(d => d.Bytes), [.. side.Select(d => d.Document.Group).Distinct(StringComparer.Ordinal)]);
    }

    private SplitPart Write(string fileName, IEnumerable<CorpusDocument> documents)
    {
        string path = Path.Combine(_options.OutputDirectory, fileName);
        int count = 0;
        using (var writer = new StreamWriter(path, append: false, new UTF8Encoding(false)))
        {
            foreach (var document in documents)
            {
                writer.Write(document.Text);
                writer.Write(SpecialTokens.EndOfText);
                count++;
            }
        }

        return new SplitPart(fileName, count, new FileInfo(path).Length);
    }
}
