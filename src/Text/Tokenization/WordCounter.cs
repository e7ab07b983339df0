using Microsoft.ML.Tokenizers;

namespace MoeServe.Text.Tokenization;

/// <summary>
/// Cuts text into pre-tokenized words and counts each distinct word, so that BPE training works on
/// tens of thousands of distinct words instead of millions of occurrences. Special tokens are cut out
/// and not counted: no merge may cross or include them.
/// </summary>
internal sealed class WordCounter
{
    private readonly PreTokenizer _preTokenizer;
    private readonly string[] _specialTokens;
    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public WordCounter(string pattern, IReadOnlyList<string> specialTokens)
    {
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < specialTokens.Count; i++)
        {
            ids[specialTokens[i]] = i;
        }

        _preTokenizer = PreTokenizerPattern.Create(pattern, ids);
        _specialTokens = [.. specialTokens];
        _lookup = _counts.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>Words seen so far, with repetition.</summary>
    public long Words { get; private set; }

    /// <summary>Distinct words and how often each occurred.</summary>
    public IReadOnlyDictionary<string, long> Counts => _counts;

    public void Add(ReadOnlySpan<char> text)
    {
        foreach ((int offset, int length) in _preTokenizer.PreTokenize(text))
        {
            var word = text.Slice(offset, length);
            if (IsSpecial(word))
            {
                continue;
            }

            Words++;
            if (_lookup.TryGetValue(word, out long count))
            {
                _lookup[word] = count + 1;
            }
            else
            {
                _lookup[word] = 1;
            }
        }
    }

    private bool IsSpecial(ReadOnlySpan<char> word)
    {
        foreach (string special in _specialTokens)
        {
            if (word.SequenceEqual(special))
            {
                return true;
            }
        }

        return false;
    }
}
