using System.Text.Json.Serialization;

namespace MoeServe.Text.Tokenization;

/// <summary>
/// The contents of tokenizer.json, written beside tokenizer.tiktoken: what a loader needs besides the
/// ranks (special tokens and their ids, the pre-tokenizer pattern) and what a model needs to know.
/// </summary>
public sealed record TokenizerDescription
{
    /// <summary>The current format version.</summary>
    public const int CurrentVersion = 1;

    /// <summary>Always "tiktoken": the ranks file is "base64(token bytes) rank" per line.</summary>
    public string Format { get; init; } = "tiktoken";

    /// <summary>Format version of this description.</summary>
    public int Version { get; init; } = CurrentVersion;

    /// <summary>File name of the ranks file, relative to this file's directory.</summary>
    public string VocabularyFile { get; init; } = TokenizerFiles.VocabularyFileName;

    /// <summary>Ordinary plus special tokens: the model's embedding rows.</summary>
    public int VocabSize { get; init; }

    /// <summary>Ordinary tokens (ranks 0..OrdinaryTokens-1), the first 256 of them single bytes.</summary>
    public int OrdinaryTokens { get; init; }

    /// <summary>The pre-tokenizer regular expression.</summary>
    public string Pattern { get; init; } = PreTokenizerPattern.Gpt2;

    /// <summary>Special tokens and their ids.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens { get; init; } = new Dictionary<string, int>();

    /// <summary>The id of &lt;|endoftext|&gt;, the document separator (-1 when absent).</summary>
    public int EndOfTextId { get; init; } = -1;

    /// <summary>
    /// Text normalisation the tokenizer applies: "none" (bytes round-trip exactly; the corpus builder
    /// writes NFC text, so callers may NFC-normalise their input to match training).
    /// </summary>
    public string Normalization { get; init; } = "none";

    /// <summary>Where the vocabulary came from (free-form: corpus path, sizes, timings); may be null.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, string>? Training { get; init; }
}
