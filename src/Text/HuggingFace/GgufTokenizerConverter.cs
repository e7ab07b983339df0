using System.Text.Encodings.Web;
using System.Text.Json;

using MoeServe.Model.Gguf;

namespace MoeServe.Text.HuggingFace;

/// <summary>A pre-tokenizer for a tokenizer.ggml.pre value.</summary>
/// <param name="Regexes">Split regexes applied in order (each Isolated), as llama.cpp does.</param>
/// <param name="IgnoreMerges">A word already in the vocabulary is one token (llama.cpp's ignore_merges).</param>
/// <param name="Nfc">The original tokenizer.json normalizes to NFC first.</param>
public sealed record GgufPreTokenizer(IReadOnlyList<string> Regexes, bool IgnoreMerges, bool Nfc);

/// <summary>
/// Turns GGUF tokenizer metadata into a Hugging Face tokenizer.json (and a tokenizer_config.json with
/// the BOS/EOS facts), so an imported model directory always carries a tokenizer.json and the runtime
/// has one loading path (<see cref="HuggingFaceTokenizerLoader"/>). The pre-tokenizer regexes per
/// tokenizer.ggml.pre follow llama.cpp's src/llama-vocab.cpp; "llama" models are written the way
/// transformers converts a SentencePiece model (merges derived from the scores).
/// </summary>
public static class GgufTokenizerConverter
{
    private const string Gpt2Regex = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
    private const string Llama3Regex = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    private const string Qwen2Regex = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// The tokenizer.ggml.pre values this converter knows, each with llama.cpp's regex sequence
    /// (applied in order, each splitting the pieces of the previous one), whether merges are
    /// skipped for words already in the vocabulary (llama.cpp's ignore_merges), and whether the
    /// original tokenizer.json normalizes to NFC (Qwen's do; llama.cpp does not).
    /// </summary>
    public static IReadOnlyDictionary<string, GgufPreTokenizer> PreTokenizers { get; } = BuildPreTokenizers();

    /// <summary>Writes a Hugging Face tokenizer.json for <paramref name="metadata"/>.</summary>
    /// <param name="metadata">The GGUF tokenizer keys.</param>
    /// <returns>tokenizer.json text.</returns>
    /// <exception cref="NotSupportedException">An unknown tokenizer.ggml.model or tokenizer.ggml.pre; the message names it.</exception>
    /// <exception cref="InvalidDataException">Arrays of different lengths, or a gpt2 model without merges.</exception>
    public static string ToTokenizerJson(GgufTokenizerMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        Validate(metadata);
        var root = metadata.Model switch
        {
            "gpt2" => ByteLevel(metadata),
            "llama" => SentencePiece(metadata),
            _ => throw new NotSupportedException($"GGUF tokenizer.ggml.model '{metadata.Model}' is not supported (supported: gpt2, llama)."),
        };
        return JsonSerializer.Serialize(root, Json);
    }

    /// <summary>Writes a tokenizer_config.json with bos_token, eos_token, pad_token, unk_token, add_bos_token and add_eos_token.</summary>
    /// <param name="metadata">The GGUF tokenizer keys.</param>
    /// <returns>tokenizer_config.json text.</returns>
    public static string ToTokenizerConfigJson(GgufTokenizerMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        Validate(metadata);
        var config = new Dictionary<string, object?>
        {
            ["add_bos_token"] = AddBos(metadata),
            ["add_eos_token"] = metadata.AddEosToken ?? false,
            ["bos_token"] = TokenOrNull(metadata, metadata.BosTokenId ?? DefaultBos(metadata)),
            ["eos_token"] = TokenOrNull(metadata, metadata.EosTokenId ?? DefaultEos(metadata)),
            ["pad_token"] = TokenOrNull(metadata, metadata.PaddingTokenId),
            ["unk_token"] = TokenOrNull(metadata, Unknown(metadata)),
            ["tokenizer_class"] = "PreTrainedTokenizerFast",
        };
        return JsonSerializer.Serialize(config, Json);
    }

    /// <summary>Converts and loads in one step.</summary>
    /// <param name="metadata">The GGUF tokenizer keys.</param>
    /// <returns>The tokenizer with its facts.</returns>
    public static HuggingFaceTokenizer Load(GgufTokenizerMetadata metadata) =>
        HuggingFaceTokenizerLoader.FromJson(ToTokenizerJson(metadata), ToTokenizerConfigJson(metadata));

    private static void Validate(GgufTokenizerMetadata m)
    {
        if (m.Tokens.Count == 0)
        {
            throw new InvalidDataException("GGUF tokenizer.ggml.tokens is empty.");
        }

        if (m.TokenTypes is not null && m.TokenTypes.Count != m.Tokens.Count)
        {
            throw new InvalidDataException($"GGUF tokenizer.ggml.token_type has {m.TokenTypes.Count} entries for {m.Tokens.Count} tokens.");
        }

        if (m.Scores is not null && m.Scores.Count != m.Tokens.Count)
        {
            throw new InvalidDataException($"GGUF tokenizer.ggml.scores has {m.Scores.Count} entries for {m.Tokens.Count} tokens.");
        }

        foreach (var (name, id) in new[] { ("bos", m.BosTokenId), ("eos", m.EosTokenId), ("padding", m.PaddingTokenId), ("unknown", m.UnknownTokenId) })
        {
            if (id is int i && (i < 0 || i >= m.Tokens.Count))
            {
                throw new InvalidDataException($"GGUF tokenizer.ggml.{name}_token_id {i} is outside the {m.Tokens.Count}-token vocabulary.");
            }
        }
    }

    private static int TypeOf(GgufTokenizerMetadata m, int id) => m.TokenTypes?[id] ?? 1;

    private static bool IsLlama3Pre(string? pre) => pre is "llama3" or "llama-v3" or "llama-bpe" or "falcon3" or "falcon-h1" or "pixtral";

    private static bool AddBos(GgufTokenizerMetadata m) => m.AddBosToken ?? (m.Model == "llama" || IsLlama3Pre(m.Pre));

    private static int? DefaultBos(GgufTokenizerMetadata m) => m.Model == "llama" ? 1 : null;

    private static int? DefaultEos(GgufTokenizerMetadata m) => m.Model == "llama" ? 2 : null;

    private static int? Unknown(GgufTokenizerMetadata m)
    {
        if (m.UnknownTokenId is int u)
        {
            return u;
        }

        for (int i = 0; i < m.Tokens.Count; i++)
        {
            if (TypeOf(m, i) == 2)
            {
                return i;
            }
        }

        return m.Model == "llama" && m.Tokens.Count > 0 ? 0 : null;
    }

    private static string? TokenOrNull(GgufTokenizerMetadata m, int? id) => id is int i && i >= 0 && i < m.Tokens.Count ? m.Tokens[i] : null;

    private static Dictionary<string, int> Vocabulary(GgufTokenizerMetadata m)
    {
        var vocab = new Dictionary<string, int>(m.Tokens.Count, StringComparer.Ordinal);
        for (int i = 0; i < m.Tokens.Count; i++)
        {
            vocab.TryAdd(m.Tokens[i], i);
        }

        return vocab;
    }

    /// <summary>Control (3), user-defined (4) and, for llama, unknown (2) tokens become added tokens: matched in raw text.</summary>
    private static List<object> AddedTokens(GgufTokenizerMetadata m)
    {
        var added = new List<object>();
        for (int i = 0; i < m.Tokens.Count; i++)
        {
            int type = TypeOf(m, i);
            if (type is 3 or 4 || (type == 2 && m.Model == "llama"))
            {
                added.Add(new Dictionary<string, object>
                {
                    ["id"] = i,
                    ["content"] = m.Tokens[i],
                    ["single_word"] = false,
                    ["lstrip"] = false,
                    ["rstrip"] = false,
                    ["normalized"] = false,
                    ["special"] = type != 4,
                });
            }
        }

        return added;
    }

    private static object? PostProcessor(GgufTokenizerMetadata m, object? fallback)
    {
        int? bos = AddBos(m) ? m.BosTokenId ?? DefaultBos(m) : null;
        int? eos = (m.AddEosToken ?? false) ? m.EosTokenId ?? DefaultEos(m) : null;
        if (bos is null && eos is null)
        {
            return fallback;
        }

        var single = new List<object>();
        var special = new Dictionary<string, object>();
        if (bos is int b)
        {
            single.Add(new { SpecialToken = new { id = m.Tokens[b], type_id = 0 } });
            special[m.Tokens[b]] = new { id = m.Tokens[b], ids = new[] { b }, tokens = new[] { m.Tokens[b] } };
        }

        single.Add(new { Sequence = new { id = "A", type_id = 0 } });
        if (eos is int e)
        {
            single.Add(new { SpecialToken = new { id = m.Tokens[e], type_id = 0 } });
            special[m.Tokens[e]] = new { id = m.Tokens[e], ids = new[] { e }, tokens = new[] { m.Tokens[e] } };
        }

        return new Dictionary<string, object> { ["type"] = "TemplateProcessing", ["single"] = single, ["pair"] = single, ["special_tokens"] = special };
    }

    private static Dictionary<string, object?> ByteLevel(GgufTokenizerMetadata m)
    {
        if (m.Merges is null)
        {
            throw new InvalidDataException("GGUF tokenizer.ggml.model is gpt2 but tokenizer.ggml.merges is missing.");
        }

        string pre = string.IsNullOrEmpty(m.Pre) ? "default" : m.Pre;
        if (!PreTokenizers.TryGetValue(pre, out var spec))
        {
            throw new NotSupportedException(
                $"GGUF tokenizer.ggml.pre '{pre}' is not supported: its pre-tokenizer regex is unknown to MoeServe (known: {string.Join(", ", PreTokenizers.Keys.Order(StringComparer.Ordinal))}).");
        }

        var byteLevel = new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false };
        var steps = spec.Regexes
            .Select(r => (object)new Dictionary<string, object> { ["type"] = "Split", ["pattern"] = new { Regex = r }, ["behavior"] = "Isolated", ["invert"] = false })
            .Append(byteLevel)
            .ToList();
        var model = BpeModel(unkToken: null, fuseUnk: false, byteFallback: false, spec.IgnoreMerges, Vocabulary(m), m.Merges);
        var preTokenizer = new Dictionary<string, object> { ["type"] = "Sequence", ["pretokenizers"] = steps };
        return TokenizerJson(m, spec.Nfc ? new { type = "NFC" } : null, preTokenizer, PostProcessor(m, byteLevel), byteLevel, model);
    }

    private static Dictionary<string, object?> SentencePiece(GgufTokenizerMetadata m)
    {
        if (m.Scores is null)
        {
            throw new InvalidDataException("GGUF tokenizer.ggml.model is llama but tokenizer.ggml.scores is missing.");
        }

        bool prefix = m.AddSpacePrefix ?? true;
        var normalizers = new List<object>();
        if (prefix)
        {
            normalizers.Add(new { type = "Prepend", prepend = "▁" });
        }

        normalizers.Add(new { type = "Replace", pattern = new { String = " " }, content = "▁" });
        var decoders = new List<object>
        {
            new { type = "Replace", pattern = new { String = "▁" }, content = " " },
            new { type = "ByteFallback" },
            new { type = "Fuse" },
        };
        if (prefix)
        {
            decoders.Add(new { type = "Strip", content = " ", start = 1, stop = 0 });
        }

        var vocab = Vocabulary(m);
        var model = BpeModel(TokenOrNull(m, Unknown(m)), fuseUnk: true, byteFallback: true, ignoreMerges: false, vocab, MergesFromScores(m, vocab));
        return TokenizerJson(m, new { type = "Sequence", normalizers }, preTokenizer: null, PostProcessor(m, null), new { type = "Sequence", decoders }, model);
    }

    // tokenizer.json with the parts the two GGUF tokenizer models (gpt2, llama) build differently.
    private static Dictionary<string, object?> TokenizerJson(GgufTokenizerMetadata m, object? normalizer, object? preTokenizer, object? postProcessor, object decoder, object model) => new()
    {
        ["version"] = "1.0",
        ["truncation"] = null,
        ["padding"] = null,
        ["added_tokens"] = AddedTokens(m),
        ["normalizer"] = normalizer,
        ["pre_tokenizer"] = preTokenizer,
        ["post_processor"] = postProcessor,
        ["decoder"] = decoder,
        ["model"] = model,
    };

    // tokenizer.json's BPE model.
    private static Dictionary<string, object?> BpeModel(string? unkToken, bool fuseUnk, bool byteFallback, bool ignoreMerges, Dictionary<string, int> vocab, object merges) => new()
    {
        ["type"] = "BPE",
        ["dropout"] = null,
        ["unk_token"] = unkToken,
        ["continuing_subword_prefix"] = null,
        ["end_of_word_suffix"] = null,
        ["fuse_unk"] = fuseUnk,
        ["byte_fallback"] = byteFallback,
        ["ignore_merges"] = ignoreMerges,
        ["vocab"] = vocab,
        ["merges"] = merges,
    };

    /// <summary>
    /// BPE merges from SentencePiece scores, as transformers' SentencePieceExtractor does: every split of
    /// a normal piece into two pieces of the vocabulary is a merge, ranked by the merged piece's score
    /// (highest first; ties keep vocabulary order, then the halves' ids).
    /// </summary>
    private static List<string> MergesFromScores(GgufTokenizerMetadata m, Dictionary<string, int> vocab)
    {
        var merges = new List<(string Left, string Right, float Score, int Order)>();
        var local = new List<(string Left, string Right, int LeftId, int RightId)>();
        for (int id = 0; id < m.Tokens.Count; id++)
        {
            int type = TypeOf(m, id);
            string piece = m.Tokens[id];
            if ((type != 1 && type != 4) || vocab[piece] != id)
            {
                continue;
            }

            local.Clear();
            for (int i = 1; i < piece.Length; i++)
            {
                if (char.IsLowSurrogate(piece[i]))
                {
                    continue;
                }

                string left = piece[..i];
                string right = piece[i..];
                if (vocab.TryGetValue(left, out int l) && vocab.TryGetValue(right, out int r))
                {
                    local.Add((left, right, l, r));
                }
            }

            foreach (var x in local.OrderBy(x => x.LeftId).ThenBy(x => x.RightId))
            {
                if (x.Left.Contains(' ', StringComparison.Ordinal) || x.Right.Contains(' ', StringComparison.Ordinal))
                {
                    continue;
                }

                merges.Add((x.Left, x.Right, m.Scores![id], merges.Count));
            }
        }

        return merges.OrderByDescending(x => x.Score).ThenBy(x => x.Order).Select(x => x.Left + " " + x.Right).ToList();
    }

    private static Dictionary<string, GgufPreTokenizer> BuildPreTokenizers()
    {
        var table = new Dictionary<string, GgufPreTokenizer>(StringComparer.Ordinal);
        void Add(IEnumerable<string> names, bool ignoreMerges, params string[] regexes)
        {
            foreach (string name in names)
            {
                table[name] = new GgufPreTokenizer(regexes, ignoreMerges, Nfc: name is "qwen2" or "deepseek-r1-qwen" or "qwen35");
            }
        }

        Add(["default"], false, @"[\p{P}\$\+<=>\^~\|]+", Gpt2Regex, @"\p{N}+", "[0-9][0-9][0-9]");
        Add(["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral"], true, Llama3Regex);
        Add(["dbrx", "smaug-bpe", "glm4", "chatglm-bpe"], false, Llama3Regex);
        Add(["qwen2", "deepseek-r1-qwen", "stablelm2"], false, Qwen2Regex);
        Add(["qwen35"], false, @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+");
        Add(["gpt-2", "phi-2", "mpt", "olmo", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "gigachat", "roberta-bpe", "jina-v1-en", "jina-v2-code"], false, Gpt2Regex);
        Add(["starcoder", "refact", "command-r"], false, @"\p{N}", Gpt2Regex);
        Add(["falcon"], false, @"[\p{P}\$\+<=>\^~\|`]+", Gpt2Regex, "[0-9][0-9][0-9]");
        Add(["deepseek-coder"], false, "[\r\n]", @"\s?\p{L}+", @"\s?\p{P}+", "[一-龥ࠀ-一가-퟿]+", @"\p{N}");
        Add(["deepseek-v3"], false, @"\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+");
        Add(["poro-chat"], false, " ?[^(\\s|.,!?…。，、।۔،)]+");
        return table;
    }


}
