using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace MoeServe.Text.Corpus;

/// <summary>
/// The King James Bible from Debian's bible-kjv (the <c>bible</c> program) and bible-kjv-text (its data in
/// /usr/lib). One document per chapter, grouped by book so that whole books are held out. Verse numbers
/// are stripped and each verse is one line: the numbers carry no language, and a model trained on them
/// spends capacity counting.
/// </summary>
public sealed partial class KjvBibleSource : ICorpusSource
{
    /// <summary>The whole Bible, as the bible program names the range.</summary>
    public const string WholeBibleRange = "gen1:1-rev22:21";

    private readonly string _program;
    private readonly string _dataDirectory;

    /// <summary>Creates the source.</summary>
    /// <param name="program">The bible executable.</param>
    /// <param name="dataDirectory">Directory holding bible.data (bible-kjv-text installs it in /usr/lib).</param>
    public KjvBibleSource(string program = "/usr/bin/bible", string dataDirectory = "/usr/lib")
    {
        _program = program;
        _dataDirectory = dataDirectory;
    }

    /// <inheritdoc/>
    public string Name => "bible";

    /// <inheritdoc/>
    public IReadOnlyList<string> DebianPackages { get; } = ["bible-kjv", "bible-kjv-text"];

    /// <inheritdoc/>
    public bool IsAvailable() => File.Exists(_program) && File.Exists(Path.Combine(_dataDirectory, "bible.data"));

    /// <inheritdoc/>
    public IEnumerable<CorpusDocument> ReadDocuments()
    {
        var start = new ProcessStartInfo(_program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-p");
        start.ArgumentList.Add(_dataDirectory);
        start.ArgumentList.Add(WholeBibleRange);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {_program}.");
        var errors = process.StandardError.ReadToEndAsync();
        string text = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{_program} exited with {process.ExitCode}: {errors.Result}");
        }

        return Parse(text);
    }

    /// <summary>
    /// Parses the bible program's output: a chapter heading ("1 Samuel 3") after a blank line, then verses
    /// that start with an indented number and continue on unindented lines.
    /// </summary>
    /// <param name="text">Output of <c>bible -p DIR RANGE</c>.</param>
    public static IReadOnlyList<CorpusDocument> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var documents = new List<CorpusDocument>();
        string? book = null;
        string? heading = null;
        var chapter = new StringBuilder();
        var verse = new StringBuilder();
        bool previousBlank = true;

        void EndVerse()
        {
            if (verse.Length > 0)
            {
                chapter.Append(verse).Append('\n');
                verse.Clear();
            }
        }

        void EndChapter()
        {
            EndVerse();
            if (book is not null && heading is not null && chapter.Length > 0)
            {
                documents.Add(new CorpusDocument("bible", book, heading, heading + "\n" + chapter));
            }

            chapter.Clear();
        }

        foreach (string line in text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n'))
        {
            if (line.Length == 0)
            {
                previousBlank = true;
                continue;
            }

            var headingMatch = previousBlank ? ChapterHeading().Match(line) : Match.Empty;
            previousBlank = false;
            if (headingMatch.Success)
            {
                EndChapter();
                book = headingMatch.Groups["book"].Value;
                heading = line.Trim();
                continue;
            }

            var verseMatch = VerseStart().Match(line);
            if (verseMatch.Success)
            {
                EndVerse();
                verse.Append(verseMatch.Groups["text"].Value.Trim());
            }
            else if (heading is not null)
            {
                verse.Append(verse.Length > 0 ? " " : string.Empty).Append(line.Trim());
            }
        }

        EndChapter();
        return documents;
    }

    [GeneratedRegex(@"^(?<book>(?:[1-3] )?[A-Z][A-Za-z]*(?: [A-Za-z]+)*) (?<chapter>\d+)$")]
    private static partial Regex ChapterHeading();

    [GeneratedRegex(@"^\s+(?<number>\d+) (?<text>.*)$")]
    private static partial Regex VerseStart();
}
