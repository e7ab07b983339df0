using System.Globalization;
using System.Text.RegularExpressions;

namespace MoeServe.Text.HuggingFace;

/// <summary>
/// A regex that matches by code point, as Oniguruma (Hugging Face tokenizers) and JavaScript's
/// <c>u</c> flag do. .NET regexes see UTF-16 units, so a letter outside the BMP (𝐇, 𠀀) is two
/// surrogates that <c>\p{L}</c> does not match, and an emoji is two symbols where the pattern expects
/// one. Text with surrogate pairs is matched on a shadow copy in which each such code point becomes
/// one BMP character of the same Unicode category; match positions are mapped back.
/// </summary>
internal sealed class CodePointRegex
{
    private readonly Regex _regex;

    public CodePointRegex(string pattern, bool literal = false)
    {
        Pattern = pattern;
        try
        {
            _regex = new Regex(literal ? Regex.Escape(pattern) : pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled);
        }
        catch (ArgumentException e)
        {
            throw new NotSupportedException($"The pre-tokenizer regex '{pattern}' is not supported by .NET regular expressions: {e.Message}", e);
        }
    }

    public string Pattern { get; }

    /// <summary>Adds the (start, length) of every non-empty match in <paramref name="text"/>.</summary>
    public void Matches(string text, List<(int Start, int Length)> output)
    {
        if (!HasSurrogatePair(text))
        {
            foreach (var m in _regex.EnumerateMatches(text))
            {
                if (m.Length > 0)
                {
                    output.Add((m.Index, m.Length));
                }
            }

            return;
        }

        var shadow = new char[text.Length];
        var map = new int[text.Length + 1];
        int n = 0;
        for (int i = 0; i < text.Length; i++)
        {
            map[n] = i;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                shadow[n++] = Representative(char.ConvertToUtf32(text[i], text[i + 1]));
                i++;
            }
            else
            {
                shadow[n++] = text[i];
            }
        }

        map[n] = text.Length;
        foreach (var m in _regex.EnumerateMatches(shadow.AsSpan(0, n)))
        {
            if (m.Length > 0)
            {
                int start = map[m.Index];
                output.Add((start, map[m.Index + m.Length] - start));
            }
        }
    }

    private static bool HasSurrogatePair(string text)
    {
        foreach (char c in text)
        {
            if (char.IsSurrogate(c))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A BMP character of the same general category as <paramref name="codePoint"/>, and outside
    /// the ASCII, CJK and Hangul ranges that some pre-tokenizer patterns name explicitly.</summary>
    private static char Representative(int codePoint) => CharUnicodeInfo.GetUnicodeCategory(codePoint) switch
    {
        UnicodeCategory.UppercaseLetter => '\u0410',
        UnicodeCategory.LowercaseLetter => '\u0430',
        UnicodeCategory.TitlecaseLetter => '\u01C5',
        UnicodeCategory.ModifierLetter => '\u02B0',
        UnicodeCategory.OtherLetter => '\u05D0',
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.DecimalDigitNumber => '\u0660',
        UnicodeCategory.LetterNumber => '\u2160',
        UnicodeCategory.OtherNumber => '\u00B2',
        UnicodeCategory.ConnectorPunctuation => '\u203F',
        UnicodeCategory.DashPunctuation => '\u2010',
        UnicodeCategory.OpenPunctuation => '\u2045',
        UnicodeCategory.ClosePunctuation => '\u2046',
        UnicodeCategory.InitialQuotePunctuation => '\u00AB',
        UnicodeCategory.FinalQuotePunctuation => '\u00BB',
        UnicodeCategory.OtherPunctuation => '\u00B6',
        UnicodeCategory.MathSymbol => '\u2200',
        UnicodeCategory.CurrencySymbol => '\u20AC',
        UnicodeCategory.ModifierSymbol => '\u02C2',
        UnicodeCategory.OtherSymbol => '\u2603',
        UnicodeCategory.Format => '\u2060',
        UnicodeCategory.PrivateUse => '\uE000',
        _ => '\u0378', // unassigned
    };
}
