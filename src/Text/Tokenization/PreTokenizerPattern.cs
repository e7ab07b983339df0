using System.Text.RegularExpressions;

using Microsoft.ML.Tokenizers;

namespace MoeServe.Text.Tokenization;

/// <summary>
/// The GPT-2 pre-tokenizer: text is cut into words (a leading space joins the word that follows it,
/// digits, punctuation runs and whitespace runs stand alone) before byte-level BPE runs inside each word.
/// The trainer and the loader both use this one definition so that they cut text the same way.
/// </summary>
public static class PreTokenizerPattern
{
    /// <summary>The GPT-2 regular expression, as tiktoken's "gpt2" encoding spells it.</summary>
    public const string Gpt2 = @"'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Builds a pre-tokenizer for <paramref name="pattern"/> that keeps every special token as one piece.</summary>
    /// <param name="pattern">The regular expression that cuts text into words.</param>
    /// <param name="specialTokens">Special tokens and their ids; each is cut out before the pattern runs.</param>
    public static PreTokenizer Create(string pattern, IReadOnlyDictionary<string, int> specialTokens)
    {
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        ArgumentNullException.ThrowIfNull(specialTokens);
        var regex = new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
        return new RegexPreTokenizer(regex, specialTokens.Count == 0 ? null : specialTokens);
    }
}
