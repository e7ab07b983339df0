using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

using Microsoft.ML.Tokenizers;
using MoeServe.Model.Gguf;

namespace MoeServe.Text.HuggingFace;

/// <summary>An entry of tokenizer.json's "added_tokens".</summary>
/// <param name="Id">Token id.</param>
/// <param name="Content">The literal text.</param>
/// <param name="Special">Whether it is a special (control) token.</param>
/// <param name="LStrip">Whether whitespace on its left is absorbed into it.</param>
/// <param name="RStrip">Whether whitespace on its right is absorbed into it.</param>
/// <param name="SingleWord">Whether it only matches as a whole word.</param>
public sealed record AddedToken(int Id, string Content, bool Special, bool LStrip = false, bool RStrip = false, bool SingleWord = false);

/// <summary>
/// A Hugging Face tokenizer.json with a BPE model (byte-level like GPT-2/Qwen/OLMoE, or
/// SentencePiece-style like Llama 2/Mixtral with ▁ and byte fallback) as a Microsoft.ML.Tokenizers
/// <see cref="Tokenizer"/>. The BPE merging itself is Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>;
/// this class adds what that lacks to follow tokenizer.json exactly: added tokens split out of the raw
/// text first (with lstrip/rstrip), Hugging Face normalizers and pre-tokenizers (Split with its
/// behaviors, ByteLevel, Metaspace, Digits, by code point), byte fallback (&lt;0xNN&gt;),
/// ignore_merges, and the decoders. Encoding returns the text's tokens only: no BOS/EOS
/// (see <see cref="HuggingFaceTokenizer.Encode"/> for those).
/// </summary>
public sealed class HuggingFaceBpeTokenizer : Tokenizer
{
    private readonly BpeTokenizer _bpe;
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabSpan;
    private readonly Dictionary<int, string> _idToToken;
    private readonly Dictionary<int, AddedToken> _addedById;
    private readonly Regex? _addedPattern;
    private readonly Dictionary<string, AddedToken> _addedByContent;
    private readonly TextNormalizer? _normalizer;
    private readonly TextPreTokenizer? _preTokenizer;
    private readonly bool _byteLevel;
    private readonly bool _byteFallback;
    private readonly bool _ignoreMerges;
    private readonly int? _unkId;
    private readonly int?[] _byteTokens = new int?[256];
    private readonly List<Func<List<string>, bool, List<string>>> _decoders = [];
    private readonly bool _byteLevelDecoder;

    private HuggingFaceBpeTokenizer(JsonElement root)
    {
        var model = root.GetProperty("model");
        string modelType = HfJson.String(model, "type") ?? throw new InvalidDataException("tokenizer.json: \"model\" has no \"type\".");
        if (modelType != "BPE")
        {
            throw new NotSupportedException($"tokenizer.json model type '{modelType}' is not supported: only BPE (byte-level, or SentencePiece-style with byte fallback) is.");
        }

        _vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in model.GetProperty("vocab").EnumerateObject())
        {
            _vocab[p.Name] = p.Value.GetInt32();
        }

        _idToToken = new Dictionary<int, string>(_vocab.Count + 64);
        foreach (var (token, id) in _vocab)
        {
            _idToToken.TryAdd(id, token);
        }

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var addedJson) && addedJson.ValueKind == JsonValueKind.Array)
        {
            foreach (var a in addedJson.EnumerateArray())
            {
                added.Add(new AddedToken(
                    a.GetProperty("id").GetInt32(),
                    a.GetProperty("content").GetString() ?? "",
                    HfJson.Bool(a, "special", false),
                    HfJson.Bool(a, "lstrip", false),
                    HfJson.Bool(a, "rstrip", false),
                    HfJson.Bool(a, "single_word", false)));
            }
        }

        AddedTokens = added;
        _addedById = [];
        _addedByContent = new Dictionary<string, AddedToken>(StringComparer.Ordinal);
        foreach (var a in added)
        {
            _addedById[a.Id] = a;
            _addedByContent.TryAdd(a.Content, a);
            _idToToken[a.Id] = a.Content;
        }

        var contents = _addedByContent.Keys.Where(c => c.Length > 0).OrderByDescending(c => c.Length).ThenBy(c => c, StringComparer.Ordinal).ToList();
        _addedPattern = contents.Count == 0 ? null : new Regex(string.Join('|', contents.Select(Regex.Escape)), RegexOptions.CultureInvariant);

        _normalizer = TextNormalizer.FromJson(root.TryGetProperty("normalizer", out var n) ? n : default);
        _preTokenizer = TextPreTokenizer.FromJson(root.TryGetProperty("pre_tokenizer", out var pt) ? pt : default);
        _byteLevel = _preTokenizer?.IsByteLevel ?? false;
        _byteFallback = HfJson.Bool(model, "byte_fallback", false);
        _ignoreMerges = HfJson.Bool(model, "ignore_merges", false);
        string? unk = HfJson.String(model, "unk_token");
        _unkId = unk is not null && _vocab.TryGetValue(unk, out int u) ? u : null;
        _vocabSpan = _vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        for (int b = 0; b < 256; b++)
        {
            _byteTokens[b] = _vocab.TryGetValue($"<0x{b:X2}>", out int id) ? id : null;
        }

        string? prefix = HfJson.String(model, "continuing_subword_prefix");
        string? suffix = HfJson.String(model, "end_of_word_suffix");
        _bpe = BpeTokenizer.Create(new BpeOptions(_vocab)
        {
            Merges = ReadMerges(model),
            UnknownToken = _byteFallback ? null : unk,
            FuseUnknownTokens = HfJson.Bool(model, "fuse_unk", false),
            ContinuingSubwordPrefix = string.IsNullOrEmpty(prefix) ? null : prefix,
            EndOfWordSuffix = string.IsNullOrEmpty(suffix) ? null : suffix,
        });

        var decoder = root.TryGetProperty("decoder", out var d) ? d : default;
        _byteLevelDecoder = _byteLevel;
        if (decoder.ValueKind == JsonValueKind.Object)
        {
            AddDecoder(decoder);
        }
    }

    /// <summary>The added tokens (tokenizer.json "added_tokens"), in file order.</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>Number of distinct ids (vocabulary plus added tokens).</summary>
    public int VocabularySize => _idToToken.Count;

    /// <summary>Whether the model works on UTF-8 bytes mapped to characters (GPT-2 style).</summary>
    public bool IsByteLevel => _byteLevel;

    /// <summary>Parses a Hugging Face tokenizer.json document.</summary>
    /// <param name="tokenizerJson">The file's text.</param>
    /// <returns>The tokenizer.</returns>
    /// <exception cref="InvalidDataException">The text is not a Hugging Face tokenizer.json.</exception>
    /// <exception cref="NotSupportedException">It uses a model, normalizer or pre-tokenizer this class does not implement; the message names it.</exception>
    public static HuggingFaceBpeTokenizer FromJson(string tokenizerJson)
    {
        ArgumentNullException.ThrowIfNull(tokenizerJson);
        using var doc = ParseDocument(tokenizerJson);
        return new HuggingFaceBpeTokenizer(doc.RootElement);
    }

    internal static HuggingFaceBpeTokenizer FromJson(JsonElement root) => new(root);

    internal static JsonDocument ParseDocument(string json)
    {
        try
        {
            var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 256 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("model", out var m) || m.ValueKind != JsonValueKind.Object)
            {
                doc.Dispose();
                throw new InvalidDataException("Not a Hugging Face tokenizer.json: it has no \"model\": {\"type\": ...} object.");
            }

            return doc;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"tokenizer.json is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>The id of a vocabulary or added token, or null.</summary>
    /// <param name="token">Token text as stored (byte-level characters for byte-level models).</param>
    /// <returns>The id, or null when unknown.</returns>
    public int? TokenToId(string token) =>
        _addedByContent.TryGetValue(token, out var a) ? a.Id : _vocab.TryGetValue(token, out int id) ? id : null;

    /// <summary>The stored text of a token id, or null.</summary>
    /// <param name="id">A token id.</param>
    /// <returns>The token text, or null when the id is unknown.</returns>
    public string? IdToToken(int id) => _idToToken.GetValueOrDefault(id);

    /// <summary>Whether <paramref name="id"/> is an added token marked special.</summary>
    /// <param name="id">A token id.</param>
    /// <returns>True for special added tokens.</returns>
    public bool IsSpecial(int id) => _addedById.TryGetValue(id, out var a) && a.Special;

    /// <inheritdoc/>
    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        string input = text ?? textSpan.ToString();
        var tokens = new List<EncodedToken>();

        // Pieces encode independently, so stopping once the limit is reached gives the same first tokens as a
        // full encode; a megabyte prompt checked against the context costs only the context's worth of BPE.
        Encode(input, tokens, settings.MaxTokenCount > 0 ? settings.MaxTokenCount : int.MaxValue);
        int charsConsumed = input.Length;
        if (settings.MaxTokenCount > 0 && tokens.Count > settings.MaxTokenCount)
        {
            tokens.RemoveRange(settings.MaxTokenCount, tokens.Count - settings.MaxTokenCount);
            charsConsumed = tokens.Count == 0 ? 0 : tokens[^1].Offset.End.Value;
        }

        return new EncodeResults<EncodedToken> { Tokens = tokens, NormalizedText = null, CharsConsumed = charsConsumed };
    }

    /// <inheritdoc/>
    public override string Decode(IEnumerable<int> ids) => Decode(ids, skipSpecialTokens: false);

    /// <summary>Decodes ids to text.</summary>
    /// <param name="ids">Token ids.</param>
    /// <param name="skipSpecialTokens">Leave out special added tokens.</param>
    /// <returns>The text; unknown ids are skipped.</returns>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var sb = new StringBuilder();
        var run = new List<string>();
        bool first = true;
        foreach (int id in ids)
        {
            if (_addedById.TryGetValue(id, out var a))
            {
                Flush();
                if (!(skipSpecialTokens && a.Special))
                {
                    sb.Append(a.Content);
                }

                continue;
            }

            if (_idToToken.TryGetValue(id, out string? token))
            {
                run.Add(token);
            }
        }

        Flush();
        return sb.ToString();

        void Flush()
        {
            if (run.Count == 0)
            {
                return;
            }

            var parts = run;
            foreach (var decoder in _decoders)
            {
                parts = decoder(parts, first);
            }

            if (_byteLevelDecoder && !_decoders.Any())
            {
                parts = DecodeByteLevel(parts);
            }

            foreach (string p in parts)
            {
                sb.Append(p);
            }

            first = false;
            run = [];
        }
    }

    /// <inheritdoc/>
    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        var list = ids as IReadOnlyCollection<int> ?? ids.ToList();
        string text = Decode(list);
        if (text.Length > destination.Length)
        {
            idsConsumed = 0;
            charsWritten = 0;
            return OperationStatus.DestinationTooSmall;
        }

        text.AsSpan().CopyTo(destination);
        idsConsumed = list.Count;
        charsWritten = text.Length;
        return OperationStatus.Done;
    }

    private void Encode(string text, List<EncodedToken> output, int limit)
    {
        if (text.Length == 0)
        {
            return;
        }

        int position = 0;
        if (_addedPattern is not null)
        {
            foreach (var (start, end, token) in FindAddedTokens(text))
            {
                EncodeSection(text, position, start, output, limit);
                if (output.Count >= limit)
                {
                    return;
                }

                output.Add(new EncodedToken(token.Id, token.Content, new Range(start, end)));
                position = end;
            }
        }

        EncodeSection(text, position, text.Length, output, limit);
    }

    /// <summary>Added tokens in <paramref name="text"/>, leftmost-longest, with lstrip/rstrip/single_word applied.</summary>
    private List<(int Start, int End, AddedToken Token)> FindAddedTokens(string text)
    {
        var found = new List<(int Start, int End, AddedToken Token)>();
        int floor = 0;
        foreach (var m in _addedPattern!.EnumerateMatches(text))
        {
            var token = _addedByContent[text.Substring(m.Index, m.Length)];
            int start = m.Index;
            int end = m.Index + m.Length;
            if (start < floor)
            {
                continue;
            }

            if (token.SingleWord && ((start > 0 && IsWordChar(text[start - 1])) || (end < text.Length && IsWordChar(text[end]))))
            {
                continue;
            }

            if (token.LStrip)
            {
                while (start > floor && char.IsWhiteSpace(text[start - 1]))
                {
                    start--;
                }
            }

            if (token.RStrip)
            {
                while (end < text.Length && char.IsWhiteSpace(text[end]))
                {
                    end++;
                }
            }

            found.Add((start, end, token));
            floor = end;
        }

        return found;
    }

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';

    private void EncodeSection(string text, int start, int end, List<EncodedToken> output, int limit)
    {
        if (end <= start)
        {
            return;
        }

        string section = text[start..end];
        if (_normalizer is not null)
        {
            section = _normalizer.Normalize(section);
        }

        if (section.Length == 0)
        {
            return;
        }

        List<Piece> pieces = [new Piece(section, 0)];
        if (_preTokenizer is not null)
        {
            pieces = _preTokenizer.Split(pieces, firstSection: start == 0);
        }

        foreach (var piece in pieces)
        {
            if (output.Count >= limit)
            {
                return;
            }

            int offset = Math.Min(end, start + piece.Offset);
            var range = new Range(offset, Math.Min(end, offset + piece.Text.Length));
            EncodePiece(piece.Text, range, output);
        }
    }

    private void EncodePiece(string piece, Range range, List<EncodedToken> output)
    {
        string word = _byteLevel ? ByteLevelAlphabet.Encode(piece) : piece;
        if (word.Length == 0)
        {
            return;
        }

        if (_ignoreMerges && _vocab.TryGetValue(word, out int whole))
        {
            output.Add(new EncodedToken(whole, word, range));
            return;
        }

        if (!_byteFallback)
        {
            AddBpe(word, range, output);
            return;
        }

        int runStart = 0;
        int i = 0;
        while (i < word.Length)
        {
            int length = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            if (!_vocabSpan.ContainsKey(word.AsSpan(i, length)))
            {
                if (i > runStart)
                {
                    AddBpe(word[runStart..i], range, output);
                }

                AddBytes(word.AsSpan(i, length), range, output);
                runStart = i + length;
            }

            i += length;
        }

        if (runStart < word.Length)
        {
            AddBpe(runStart == 0 ? word : word[runStart..], range, output);
        }
    }

    private void AddBpe(string word, Range range, List<EncodedToken> output)
    {
        foreach (var t in _bpe.EncodeToTokens(word, out _, considerPreTokenization: false, considerNormalization: false))
        {
            output.Add(new EncodedToken(t.Id, t.Value, range));
        }
    }

    private void AddBytes(ReadOnlySpan<char> character, Range range, List<EncodedToken> output)
    {
        Span<byte> bytes = stackalloc byte[8];
        int count = Encoding.UTF8.GetBytes(character, bytes);
        bool all = true;
        for (int b = 0; b < count; b++)
        {
            all &= _byteTokens[bytes[b]].HasValue;
        }

        if (all)
        {
            for (int b = 0; b < count; b++)
            {
                int id = _byteTokens[bytes[b]]!.Value;
                output.Add(new EncodedToken(id, _idToToken[id], range));
            }
        }
        else if (_unkId is int unk)
        {
            output.Add(new EncodedToken(unk, _idToToken[unk], range));
        }
    }

    private static IEnumerable<string> ReadMerges(JsonElement model)
    {
        if (!model.TryGetProperty("merges", out var merges) || merges.ValueKind != JsonValueKind.Array)
        {
            yield break;
        }

        foreach (var m in merges.EnumerateArray())
        {
            if (m.ValueKind == JsonValueKind.String)
            {
                yield return m.GetString()!;
            }
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2)
            {
                string left = m[0].GetString() ?? "";
                string right = m[1].GetString() ?? "";
                if (left.Contains(' ', StringComparison.Ordinal) || right.Contains(' ', StringComparison.Ordinal))
                {
                    throw new NotSupportedException($"tokenizer.json merge [\"{left}\", \"{right}\"] contains a space, which Microsoft.ML.Tokenizers' BPE merges cannot hold.");
                }

                yield return left + " " + right;
            }
            else
            {
                throw new InvalidDataException("tokenizer.json: a merge is neither \"a b\" nor [\"a\", \"b\"].");
            }
        }
    }

    private void AddDecoder(JsonElement e)
    {
        string type = HfJson.Type(e, "decoder");
        switch (type)
        {
            case "Sequence":
                foreach (var part in e.GetProperty("decoders").EnumerateArray())
                {
                    AddDecoder(part);
                }

                break;
            case "ByteLevel":
                _decoders.Add((tokens, _) => DecodeByteLevel(tokens));
                break;
            case "Replace":
                var (value, isRegex) = HfJson.Pattern(e.GetProperty("pattern"));
                string content = e.GetProperty("content").GetString() ?? "";
                if (isRegex)
                {
                    var regex = new Regex(value, RegexOptions.CultureInvariant);
                    _decoders.Add((tokens, _) => tokens.Select(t => regex.Replace(t, content)).ToList());
                }
                else
                {
                    _decoders.Add((tokens, _) => tokens.Select(t => t.Replace(value, content, StringComparison.Ordinal)).ToList());
                }

                break;
            case "ByteFallback":
                _decoders.Add((tokens, _) => DecodeByteFallback(tokens));
                break;
            case "Fuse":
                _decoders.Add((tokens, _) => [string.Concat(tokens)]);
                break;
            case "Strip":
                string strip = e.GetProperty("content").GetString() ?? " ";
                int startCount = e.TryGetProperty("start", out var s) ? s.GetInt32() : 0;
                int stopCount = e.TryGetProperty("stop", out var st) ? st.GetInt32() : 0;
                _decoders.Add((tokens, first) => tokens.Select((t, i) => StripToken(t, strip, first && i == 0 ? startCount : 0, stopCount)).ToList());
                break;
            case "Metaspace":
                string replacement = HfJson.String(e, "replacement") ?? "▁";
                string scheme = HfJson.String(e, "prepend_scheme") ?? (HfJson.Bool(e, "add_prefix_space", true) ? "always" : "never");
                _decoders.Add((tokens, first) => tokens.Select((t, i) =>
                {
                    string r = t.Replace(replacement, " ", StringComparison.Ordinal);
                    return first && i == 0 && scheme != "never" && r.StartsWith(' ') ? r[1..] : r;
                }).ToList());
                break;
            default:
                throw new NotSupportedException($"tokenizer.json decoder type '{type}' is not supported (supported: Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace).");
        }
    }

    private static string StripToken(string token, string content, int start, int stop)
    {
        for (int i = 0; i < start && token.StartsWith(content, StringComparison.Ordinal); i++)
        {
            token = token[content.Length..];
        }

        for (int i = 0; i < stop && token.EndsWith(content, StringComparison.Ordinal); i++)
        {
            token = token[..^content.Length];
        }

        return token;
    }

    private static List<string> DecodeByteLevel(List<string> tokens)
    {
        var bytes = new List<byte>();
        var sb = new StringBuilder();
        foreach (string t in tokens)
        {
            if (!ByteLevelAlphabet.TryDecode(t, bytes))
            {
                sb.Append(Encoding.UTF8.GetString([.. bytes]));
                bytes.Clear();
                sb.Append(t);
            }
        }

        sb.Append(Encoding.UTF8.GetString([.. bytes]));
        return [sb.ToString()];
    }

    private static List<string> DecodeByteFallback(List<string> tokens)
    {
        var output = new List<string>();
        var bytes = new List<byte>();
        foreach (string t in tokens)
        {
            if (t.Length == 6 && t.StartsWith("<0x", StringComparison.Ordinal) && t[5] == '>' &&
                byte.TryParse(t.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out byte b))
            {
                bytes.Add(b);
                continue;
            }

            if (bytes.Count > 0)
            {
                output.Add(Encoding.UTF8.GetString([.. bytes]));
                bytes.Clear();
            }

            output.Add(t);
        }

        if (bytes.Count > 0)
        {
            output.Add(Encoding.UTF8.GetString([.. bytes]));
        }

        return output;
    }
}
