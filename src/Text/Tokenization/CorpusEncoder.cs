using Microsoft.ML.Tokenizers;

namespace MoeServe.Text.Tokenization;

/// <summary>
/// Turns a corpus file (documents each followed by &lt;|endoftext|&gt;, see <see cref="SpecialTokens.EndOfText"/>)
/// into one int token array for training: every document's ids followed by the end-of-text id.
/// Documents are encoded in parallel; the result keeps file order.
/// </summary>
public sealed class CorpusEncoder
{
    private readonly Tokenizer _tokenizer;
    private readonly int _endOfTextId;

    /// <summary>Creates an encoder.</summary>
    /// <param name="tokenizer">The tokenizer (from <see cref="TokenizerFiles.Load"/>).</param>
    /// <param name="endOfTextId">Id written after each document (<see cref="TokenizerDescription.EndOfTextId"/>).</param>
    public CorpusEncoder(Tokenizer tokenizer, int endOfTextId)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentOutOfRangeException.ThrowIfNegative(endOfTextId);
        _tokenizer = tokenizer;
        _endOfTextId = endOfTextId;
    }

    /// <summary>Loads the tokenizer in <paramref name="tokenizerDirectory"/> and makes an encoder for it.</summary>
    /// <param name="tokenizerDirectory">A directory written by <see cref="TokenizerFiles.Save"/>.</param>
    /// <exception cref="InvalidDataException">The tokenizer has no &lt;|endoftext|&gt; token.</exception>
    public static CorpusEncoder FromDirectory(string tokenizerDirectory)
    {
        var description = TokenizerFiles.ReadDescription(tokenizerDirectory);
        if (description.EndOfTextId < 0)
        {
            throw new InvalidDataException($"The tokenizer in '{tokenizerDirectory}' has no {SpecialTokens.EndOfText} token.");
        }

        return new CorpusEncoder(TokenizerFiles.Load(tokenizerDirectory), description.EndOfTextId);
    }

    /// <summary>Reads and encodes a corpus file.</summary>
    /// <param name="path">A UTF-8 corpus file (train.txt or validation.txt).</param>
    public int[] EncodeFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return Encode(File.ReadAllText(path));
    }

    /// <summary>
    /// Encodes corpus text. Text after the last marker, if any, counts as a last document and also gets
    /// the end-of-text id; an empty text gives an empty array.
    /// </summary>
    /// <param name="corpusText">Documents separated (and terminated) by &lt;|endoftext|&gt;.</param>
    public int[] Encode(string corpusText)
    {
        ArgumentNullException.ThrowIfNull(corpusText);
        var documents = SplitDocuments(corpusText);
        var encoded = new int[documents.Count][];
        Parallel.For(0, documents.Count, i =>
        {
            var (start, length) = documents[i];
            encoded[i] = [.. _tokenizer.EncodeToIds(corpusText.AsSpan(start, length), considerPreTokenization: true, considerNormalization: true)];
        });

        int total = encoded.Sum(e => e.Length + 1);
        int[] ids = new int[total];
        int at = 0;
        foreach (int[] document in encoded)
        {
            document.CopyTo(ids, at);
            at += document.Length;
            ids[at++] = _endOfTextId;
        }

        return ids;
    }

    /// <summary>Start and length of each document: the text between markers; empty pieces are dropped.</summary>
    /// <param name="corpusText">Documents separated by &lt;|endoftext|&gt;.</param>
    public static IReadOnlyList<(int Start, int Length)> SplitDocuments(string corpusText)
    {
        ArgumentNullException.ThrowIfNull(corpusText);
        var documents = new List<(int, int)>();
        int start = 0;
        while (start < corpusText.Length)
        {
            int marker = corpusText.IndexOf(SpecialTokens.EndOfText, start, StringComparison.Ordinal);
            int end = marker < 0 ? corpusText.Length : marker;
            if (end > start)
            {
                documents.Add((start, end - start));
            }

            start = marker < 0 ? corpusText.Length : marker + SpecialTokens.EndOfText.Length;
        }

        return documents;
    }
}
