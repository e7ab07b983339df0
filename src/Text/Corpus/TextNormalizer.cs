using System.Text;
using System.Text.RegularExpressions;

namespace MoeServe.Text.Corpus;

/// <summary>
/// Normalises one document: LF line ends; backspace overstrike applied (fortune files underline words
/// as "___\b\b\bword"); tabs expanded to 8-column stops (keeps ASCII art aligned); other control
/// characters and byte-order marks dropped; UTF-8 mojibake repaired (UTF-8 read as Latin-1, once or
/// twice: "donâ\u0080\u0099t" becomes "don’t", see <see cref="RepairMojibake"/>); Unicode NFC (when the runtime has ICU, see
/// <see cref="IsNfcAvailable"/>); trailing spaces cut; at most one blank line in a row; no leading or
/// trailing blank lines; exactly one final newline. A literal &lt;|endoftext|&gt; is removed because
/// it would read as a document boundary. Leading indentation is kept (poems, verse, code).
/// </summary>
public static partial class TextNormalizer
{
    private const int TabWidth = 8;

    /// <summary>
    /// False when the runtime runs in invariant globalization mode, where string.Normalize leaves
    /// non-ASCII text unchanged; the corpus is then not NFC-normalised and split.json says so.
    /// </summary>
    public static bool IsNfcAvailable { get; } = "e\u0301".Normalize(NormalizationForm.FormC) == "\u00e9";

    /// <summary>Normalises <paramref name="text"/>; returns "" for text with no visible content.</summary>
    /// <param name="text">Raw document text.</param>
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = RepairMojibake(RepairMojibake(text));
        if (IsNfcAvailable)
        {
            text = text.Normalize(NormalizationForm.FormC);
        }

        var output = new StringBuilder(text.Length);
        var line = new StringBuilder();
        int blankLines = 0;
        bool started = false;
        foreach (string raw in SplitLines(text))
        {
            CleanLine(raw, line);
            int end = line.Length;
            while (end > 0 && char.IsWhiteSpace(line[end - 1]))
            {
                end--;
            }

            line.Length = end;
            if (line.Length == 0)
            {
                blankLines++;
                continue;
            }

            if (started && blankLines > 0)
            {
                output.Append('\n');
            }

            output.Append(line).Append('\n');
            started = true;
            blankLines = 0;
        }

        return output.Replace(SpecialTokens.EndOfText, string.Empty).ToString();
    }

    /// <summary>
    /// Repairs one layer of mojibake: a run of characters U+0080-U+00FF that, taken as Latin-1 bytes, is
    /// valid UTF-8 for a single character is replaced by that character. Legitimate Latin-1 text almost
    /// never has a lead letter (Â-ô) followed by C1 controls or by several of ¡-¿.
    /// </summary>
    /// <param name="text">Text that may hold UTF-8 decoded as Latin-1.</param>
    public static string RepairMojibake(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Mojibake().Replace(text, match =>
        {
            byte[] bytes = Encoding.Latin1.GetBytes(match.Value);
            try
            {
                string repaired = StrictUtf8.GetString(bytes);
                return repaired.EnumerateRunes().Count() == 1 ? repaired : match.Value;
            }
            catch (DecoderFallbackException)
            {
                return match.Value;
            }
        });
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    [GeneratedRegex("[\u00C2-\u00F4][\u0080-\u00BF]{1,3}")]
    private static partial Regex Mojibake();

    private static IEnumerable<string> SplitLines(string text) =>
        text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n').Split('\n');

    private static void CleanLine(string raw, StringBuilder line)
    {
        line.Clear();
        foreach (char c in raw)
        {
            if (c == '\b')
            {
                // Overstrike: the next character replaces the previous one.
                if (line.Length > 0)
                {
                    line.Length--;
                }
            }
            else if (c == '\t')
            {
                line.Append(' ', TabWidth - (line.Length % TabWidth));
            }
            else if (!char.IsControl(c) && c != '\uFEFF')
            {
                line.Append(c);
            }
        }
    }
}
