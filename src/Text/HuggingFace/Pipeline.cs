using System.Text;
using System.Text.Json;

namespace MoeServe.Text.HuggingFace;

/// <summary>One piece of text on its way through a pre-tokenizer: its text and where it starts in the segment.</summary>
internal readonly record struct Piece(string Text, int Offset);

/// <summary>A Hugging Face normalizer (tokenizer.json "normalizer").</summary>
internal abstract class TextNormalizer
{
    public abstract string Normalize(string text);

    public static TextNormalizer? FromJson(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Null || e.ValueKind == JsonValueKind.Undefined)
        {
            return null;
        }

        string type = HfJson.Type(e, "normalizer");
        return type switch
        {
            "Sequence" => new SequenceNormalizer(e.GetProperty("normalizers").EnumerateArray().Select(FromJson).OfType<TextNormalizer>().ToArray()),
            "NFC" => new FormNormalizer(NormalizationForm.FormC),
            "NFD" => new FormNormalizer(NormalizationForm.FormD),
            "NFKC" => new FormNormalizer(NormalizationForm.FormKC),
            "NFKD" => new FormNormalizer(NormalizationForm.FormKD),
            "Lowercase" => new DelegateNormalizer(s => s.ToLowerInvariant()),
            "Prepend" => new DelegateNormalizer(PrependOf(e.GetProperty("prepend").GetString() ?? "")),
            "Replace" => new ReplaceNormalizer(HfJson.Pattern(e.GetProperty("pattern")), e.GetProperty("content").GetString() ?? ""),
            "Strip" => new DelegateNormalizer(StripOf(HfJson.Bool(e, "strip_left", true), HfJson.Bool(e, "strip_right", true))),
            _ => throw new NotSupportedException($"tokenizer.json normalizer type '{type}' is not supported (supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip)."),
        };
    }

    private static Func<string, string> PrependOf(string prefix) => s => s.Length == 0 ? s : prefix + s;

    private static Func<string, string> StripOf(bool left, bool right) => s => left && right ? s.Trim() : left ? s.TrimStart() : right ? s.TrimEnd() : s;

    private sealed class SequenceNormalizer(TextNormalizer[] parts) : TextNormalizer
    {
        public override string Normalize(string text)
        {
            foreach (var part in parts)
            {
                text = part.Normalize(text);
            }

            return text;
        }
    }

    private sealed class FormNormalizer(NormalizationForm form) : TextNormalizer
    {
        public override string Normalize(string text) => text.IsNormalized(form) ? text : text.Normalize(form);
    }

    private sealed class DelegateNormalizer(Func<string, string> normalize) : TextNormalizer
    {
        public override string Normalize(string text) => normalize(text);
    }

    private sealed class ReplaceNormalizer((string Value, bool IsRegex) pattern, string content) : TextNormalizer
    {
        private readonly CodePointRegex? _regex = pattern.IsRegex ? new CodePointRegex(pattern.Value) : null;

        public override string Normalize(string text)
        {
            if (_regex is null)
            {
                return pattern.Value.Length == 0 ? text : text.Replace(pattern.Value, content, StringComparison.Ordinal);
            }

            var matches = new List<(int Start, int Length)>();
            _regex.Matches(text, matches);
            if (matches.Count == 0)
            {
                return text;
            }

            var sb = new StringBuilder(text.Length);
            int last = 0;
            foreach (var (start, length) in matches)
            {
                sb.Append(text, last, start - last).Append(content);
                last = start + length;
            }

            return sb.Append(text, last, text.Length - last).ToString();
        }
    }
}

/// <summary>A Hugging Face pre-tokenizer (tokenizer.json "pre_tokenizer"): splits a segment into pieces.</summary>
internal abstract class TextPreTokenizer
{
    /// <summary>Splits every piece further.</summary>
    /// <param name="pieces">The pieces so far.</param>
    /// <param name="firstSection">Whether the text is the first section of the input (no added token before it).</param>
    public abstract List<Piece> Split(List<Piece> pieces, bool firstSection);

    /// <summary>Whether this pre-tokenizer maps text to byte-level characters (the model then sees bytes).</summary>
    public virtual bool IsByteLevel => false;

    public static TextPreTokenizer? FromJson(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Null || e.ValueKind == JsonValueKind.Undefined)
        {
            return null;
        }

        string type = HfJson.Type(e, "pre_tokenizer");
        switch (type)
        {
            case "Sequence":
                return new SequencePreTokenizer(e.GetProperty("pretokenizers").EnumerateArray().Select(FromJson).OfType<TextPreTokenizer>().ToArray());
            case "Split":
                var (value, isRegex) = HfJson.Pattern(e.GetProperty("pattern"));
                string behavior = e.TryGetProperty("behavior", out var b) ? b.GetString() ?? "Isolated" : "Isolated";
                return new SplitPreTokenizer(new CodePointRegex(value, literal: !isRegex), ParseBehavior(behavior), HfJson.Bool(e, "invert", false));
            case "ByteLevel":
                return new ByteLevelPreTokenizer(HfJson.Bool(e, "add_prefix_space", false), HfJson.Bool(e, "use_regex", true));
            case "Metaspace":
                string replacement = e.TryGetProperty("replacement", out var r) ? r.GetString() ?? "▁" : "▁";
                string scheme = e.TryGetProperty("prepend_scheme", out var p) && p.ValueKind == JsonValueKind.String
                    ? p.GetString()!
                    : HfJson.Bool(e, "add_prefix_space", true) ? "always" : "never";
                return new MetaspacePreTokenizer(replacement, scheme, HfJson.Bool(e, "split", true));
            case "Digits":
                return new SplitPreTokenizer(new CodePointRegex(HfJson.Bool(e, "individual_digits", false) ? @"\p{Nd}" : @"\p{Nd}+"), SplitBehavior.Isolated, false);
            case "Whitespace":
                return new SplitPreTokenizer(new CodePointRegex(@"\w+|[^\w\s]+"), SplitBehavior.Isolated, invert: false, dropUnmatched: true);
            case "WhitespaceSplit":
                return new SplitPreTokenizer(new CodePointRegex(@"\s+"), SplitBehavior.Removed, false);
            default:
                throw new NotSupportedException($"tokenizer.json pre_tokenizer type '{type}' is not supported (supported: Sequence, Split, ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit).");
        }
    }

    private static SplitBehavior ParseBehavior(string behavior) => behavior switch
    {
        "Isolated" => SplitBehavior.Isolated,
        "Removed" => SplitBehavior.Removed,
        "MergedWithPrevious" => SplitBehavior.MergedWithPrevious,
        "MergedWithNext" => SplitBehavior.MergedWithNext,
        "Contiguous" => SplitBehavior.Contiguous,
        _ => throw new NotSupportedException($"tokenizer.json Split behavior '{behavior}' is not supported."),
    };

    internal enum SplitBehavior
    {
        Isolated,
        Removed,
        MergedWithPrevious,
        MergedWithNext,
        Contiguous,
    }

    private sealed class SequencePreTokenizer(TextPreTokenizer[] parts) : TextPreTokenizer
    {
        public override bool IsByteLevel => parts.Any(p => p.IsByteLevel);

        public override List<Piece> Split(List<Piece> pieces, bool firstSection)
        {
            foreach (var part in parts)
            {
                pieces = part.Split(pieces, firstSection);
            }

            return pieces;
        }
    }

    /// <summary>Hugging Face's Split: regex matches and the text between them, combined per <see cref="SplitBehavior"/>.</summary>
    internal sealed class SplitPreTokenizer(CodePointRegex regex, SplitBehavior behavior, bool invert, bool dropUnmatched = false) : TextPreTokenizer
    {
        public override List<Piece> Split(List<Piece> pieces, bool firstSection)
        {
            var result = new List<Piece>(pieces.Count * 2);
            var matches = new List<(int Start, int Length)>();
            var segments = new List<(int Start, int End, bool IsMatch)>();
            foreach (var piece in pieces)
            {
                matches.Clear();
                segments.Clear();
                regex.Matches(piece.Text, matches);
                int last = 0;
                foreach (var (start, length) in matches)
                {
                    if (start > last)
                    {
                        segments.Add((last, start, invert));
                    }

                    segments.Add((start, start + length, !invert));
                    last = start + length;
                }

                if (last < piece.Text.Length)
                {
                    segments.Add((last, piece.Text.Length, invert));
                }

                foreach (var (start, end) in Combine(segments))
                {
                    if (end > start)
                    {
                        result.Add(new Piece(piece.Text[start..end], piece.Offset + start));
                    }
                }
            }

            return result;
        }

        private List<(int Start, int End)> Combine(List<(int Start, int End, bool IsMatch)> segments)
        {
            var output = new List<(int Start, int End)>(segments.Count);
            bool previousMatch = false;
            switch (behavior)
            {
                case SplitBehavior.Isolated:
                    foreach (var s in segments)
                    {
                        if (!dropUnmatched || s.IsMatch)
                        {
                            output.Add((s.Start, s.End));
                        }
                    }

                    break;
                case SplitBehavior.Removed:
                    foreach (var s in segments)
                    {
                        if (!s.IsMatch)
                        {
                            output.Add((s.Start, s.End));
                        }
                    }

                    break;
                case SplitBehavior.MergedWithPrevious:
                    foreach (var s in segments)
                    {
                        if (s.IsMatch && !previousMatch && output.Count > 0)
                        {
                            output[^1] = (output[^1].Start, s.End);
                        }
                        else
                        {
                            output.Add((s.Start, s.End));
                        }

                        previousMatch = s.IsMatch;
                    }

                    break;
                case SplitBehavior.MergedWithNext:
                    for (int i = segments.Count - 1; i >= 0; i--)
                    {
                        var s = segments[i];
                        if (s.IsMatch && !previousMatch && output.Count > 0)
                        {
                            output[^1] = (s.Start, output[^1].End);
                        }
                        else
                        {
                            output.Add((s.Start, s.End));
                        }

                        previousMatch = s.IsMatch;
                    }

                    output.Reverse();
                    break;
                case SplitBehavior.Contiguous:
                    for (int i = 0; i < segments.Count; i++)
                    {
                        var s = segments[i];
                        if (i > 0 && s.IsMatch == previousMatch)
                        {
                            output[^1] = (output[^1].Start, s.End);
                        }
                        else
                        {
                            output.Add((s.Start, s.End));
                        }

                        previousMatch = s.IsMatch;
                    }

                    break;
            }

            return output;
        }
    }

    /// <summary>ByteLevel: optional prefix space, optional GPT-2 regex split; the bytes themselves are mapped by the model stage.</summary>
    private sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : TextPreTokenizer
    {
        private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
        private static readonly SplitPreTokenizer Gpt2 = new(new CodePointRegex(Gpt2Pattern), SplitBehavior.Isolated, false);

        public override bool IsByteLevel => true;

        public override List<Piece> Split(List<Piece> pieces, bool firstSection)
        {
            if (addPrefixSpace)
            {
                pieces = pieces.Select(p => p.Text.StartsWith(' ') ? p : new Piece(" " + p.Text, p.Offset)).ToList();
            }

            return useRegex ? Gpt2.Split(pieces, firstSection) : pieces;
        }
    }

    /// <summary>Metaspace: spaces become the replacement character (▁), which is prepended per the scheme; optional split before each ▁.</summary>
    private sealed class MetaspacePreTokenizer(string replacement, string scheme, bool split) : TextPreTokenizer
    {
        private readonly SplitPreTokenizer _splitter = new(new CodePointRegex(replacement, literal: true), SplitBehavior.MergedWithNext, false);

        public override List<Piece> Split(List<Piece> pieces, bool firstSection)
        {
            var result = new List<Piece>(pieces.Count);
            for (int i = 0; i < pieces.Count; i++)
            {
                string text = pieces[i].Text.Replace(" ", replacement, StringComparison.Ordinal);
                bool prepend = scheme switch
                {
                    "always" => true,
                    "first" => firstSection && pieces[i].Offset == 0,
                    "never" => false,
                    _ => throw new NotSupportedException($"tokenizer.json Metaspace prepend_scheme '{scheme}' is not supported."),
                };
                if (prepend && !text.StartsWith(replacement, StringComparison.Ordinal))
                {
                    text = replacement + text;
                }

                result.Add(new Piece(text, pieces[i].Offset));
            }

            return split ? _splitter.Split(result, firstSection) : result;
        }
    }
}

/// <summary>Small helpers for reading tokenizer.json.</summary>
internal static class HfJson
{
    public static string Type(JsonElement e, string what) =>
        e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
            ? t.GetString()!
            : throw new InvalidDataException($"tokenizer.json: a {what} has no \"type\".");

    public static bool Bool(JsonElement e, string name, bool fallback) =>
        e.TryGetProperty(name, out var v) && (v.ValueKind == JsonValueKind.True || v.ValueKind == JsonValueKind.False) ? v.GetBoolean() : fallback;

    public static string? String(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>A pattern object: {"String": "..."} or {"Regex": "..."}.</summary>
    public static (string Value, bool IsRegex) Pattern(JsonElement e)
    {
        if (e.TryGetProperty("Regex", out var r))
        {
            return (r.GetString() ?? "", true);
        }

        if (e.TryGetProperty("String", out var s))
        {
            return (s.GetString() ?? "", false);
        }

        throw new InvalidDataException("tokenizer.json: a pattern is neither {\"String\": ...} nor {\"Regex\": ...}.");
    }
}
