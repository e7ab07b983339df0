using System.Text.RegularExpressions;

namespace MoeServe.Text.Tokenization;

/// <summary>Settings of <see cref="BpeTrainer"/>.</summary>
public sealed record BpeTrainerOptions
{
    /// <summary>The default vocabulary size: 256 byte tokens, 3839 merges and &lt;|endoftext|&gt;.</summary>
    public const int DefaultVocabularySize = 4096;

    /// <summary>
    /// Total vocabulary size: the 256 byte tokens, the merged tokens and the special tokens.
    /// Special tokens take the last ids.
    /// </summary>
    public int VocabularySize { get; init; } = DefaultVocabularySize;

    /// <summary>A pair seen fewer times than this is never merged; training may then stop below <see cref="VocabularySize"/>.</summary>
    public int MinPairFrequency { get; init; } = 2;

    /// <summary>Special tokens, given ids after every ordinary token in this order.</summary>
    public IReadOnlyList<string> SpecialTokens { get; init; } = [Text.SpecialTokens.EndOfText];

    /// <summary>The pre-tokenizer regular expression (GPT-2's by default).</summary>
    public string Pattern { get; init; } = PreTokenizerPattern.Gpt2;

    /// <summary>How many merges pass between two progress reports.</summary>
    public int ProgressInterval { get; init; } = 100;

    /// <summary>Every problem with these options, empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        var specials = SpecialTokens ?? [];
        if (SpecialTokens is null)
        {
            errors.Add("SpecialTokens must not be null.");
        }

        if (specials.Any(string.IsNullOrEmpty))
        {
            errors.Add("SpecialTokens must not contain empty strings.");
        }

        if (specials.Distinct(StringComparer.Ordinal).Count() != specials.Count)
        {
            errors.Add("SpecialTokens must be distinct.");
        }

        int minimum = BpeTrainer.ByteTokenCount + specials.Count;
        if (VocabularySize < minimum)
        {
            errors.Add($"VocabularySize (--vocab) must be at least {minimum} (256 byte tokens + {specials.Count} special), got {VocabularySize}.");
        }

        if (MinPairFrequency < 1)
        {
            errors.Add($"MinPairFrequency (--min-frequency) must be at least 1, got {MinPairFrequency}.");
        }

        if (ProgressInterval < 1)
        {
            errors.Add($"ProgressInterval must be at least 1, got {ProgressInterval}.");
        }

        if (string.IsNullOrEmpty(Pattern))
        {
            errors.Add("Pattern must not be empty.");
        }
        else
        {
            try
            {
                _ = new Regex(Pattern, RegexOptions.None, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException e)
            {
                errors.Add($"Pattern is not a valid regular expression: {e.Message}");
            }
        }

        return errors;
    }

    /// <summary>Throws one <see cref="ArgumentException"/> listing every problem, if there is any.</summary>
    public void ThrowIfInvalid()
    {
        var errors = Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid BPE trainer options:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", errors));
        }
    }
}
