namespace MoeServe.Text;

/// <summary>The special tokens the project's corpora and tokenizers share.</summary>
public static class SpecialTokens
{
    /// <summary>
    /// Separates documents in a corpus file and in a token stream. A corpus file is
    /// <c>doc1 + EndOfText + doc2 + EndOfText + ...</c>: the marker follows every document, the last one too.
    /// </summary>
    public const string EndOfText = "<|endoftext|>";
}
