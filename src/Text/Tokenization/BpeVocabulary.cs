namespace MoeServe.Text.Tokenization;

/// <summary>
/// A trained byte-level BPE vocabulary: ordinary tokens as byte strings in rank order (rank = id; ids 0-255
/// are the single bytes 0-255, then merges in the order they were learned), then special tokens.
/// </summary>
/// <param name="TokenBytes">Byte string of every ordinary token, indexed by its rank (which is its id).</param>
/// <param name="SpecialTokens">Special tokens and their ids (after every ordinary token).</param>
/// <param name="Pattern">The pre-tokenizer regular expression the vocabulary was trained with.</param>
public sealed record BpeVocabulary(
    IReadOnlyList<byte[]> TokenBytes,
    IReadOnlyDictionary<string, int> SpecialTokens,
    string Pattern)
{
    /// <summary>Ordinary plus special tokens: the embedding size a model needs.</summary>
    public int Count => TokenBytes.Count + SpecialTokens.Count;

    /// <summary>The id of &lt;|endoftext|&gt;.</summary>
    /// <exception cref="InvalidOperationException">The vocabulary has no &lt;|endoftext|&gt; token.</exception>
    public int EndOfTextId => SpecialTokens.TryGetValue(Text.SpecialTokens.EndOfText, out int id)
        ? id
        : throw new InvalidOperationException($"The vocabulary has no {Text.SpecialTokens.EndOfText} token.");
}
