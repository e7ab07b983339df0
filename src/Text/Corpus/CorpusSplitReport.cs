namespace MoeServe.Text.Corpus;

/// <summary>The contents of split.json: what went where, and the conventions of the corpus files.</summary>
public sealed record CorpusSplitReport
{
    /// <summary>Always "moeserve-corpus".</summary>
    public string Format { get; init; } = "moeserve-corpus";

    /// <summary>Format version.</summary>
    public int Version { get; init; } = 1;

    /// <summary>The marker that follows every document in train.txt and validation.txt.</summary>
    public string DocumentSeparator { get; init; } = SpecialTokens.EndOfText;

    /// <summary>How a consumer reads the files (see docs/data.md).</summary>
    public string Convention { get; init; } =
        "Each file is doc + \"<|endoftext|>\" + doc + \"<|endoftext|>\" ...: every document, the last too, is followed by the marker, " +
        "with no newline added around it. Encode with the tokenizer's special tokens enabled (CorpusEncoder does), so each marker " +
        "becomes the single <|endoftext|> id.";

    /// <summary>Seed of the group order.</summary>
    public int Seed { get; init; }

    /// <summary>Target held-out share per source.</summary>
    public double ValidationFraction { get; init; }

    /// <summary>The normalisation applied (see TextNormalizer).</summary>
    public IReadOnlyList<string> Normalization { get; init; } = [];

    /// <summary>Per source: packages and the groups on each side.</summary>
    public IReadOnlyList<SourceSplit> Sources { get; init; } = [];

    /// <summary>The training file.</summary>
    public required SplitPart Train { get; init; }

    /// <summary>The validation file.</summary>
    public required SplitPart Validation { get; init; }
}

/// <summary>One source's split.</summary>
/// <param name="Name">Source name.</param>
/// <param name="DebianPackages">Packages the text came from.</param>
/// <param name="Train">Training side.</param>
/// <param name="Validation">Held-out side.</param>
public sealed record SourceSplit(string Name, IReadOnlyList<string> DebianPackages, SplitSide Train, SplitSide Validation);

/// <summary>One side of one source's split.</summary>
/// <param name="Documents">Documents on this side.</param>
/// <param name="Bytes">UTF-8 bytes of those documents (without separators).</param>
/// <param name="Groups">Group names on this side, in corpus order.</param>
public sealed record SplitSide(int Documents, long Bytes, IReadOnlyList<string> Groups);

/// <summary>A written corpus file.</summary>
/// <param name="File">File name inside the output directory.</param>
/// <param name="Documents">Documents in it.</param>
/// <param name="Bytes">File size in bytes, separators included.</param>
public sealed record SplitPart(string File, int Documents, long Bytes);
