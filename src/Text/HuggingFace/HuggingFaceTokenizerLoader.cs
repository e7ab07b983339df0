using System.Text;
using System.Text.Json;

using Microsoft.ML.Tokenizers;
using MoeServe.Model.Import;

namespace MoeServe.Text.HuggingFace;

/// <summary>
/// Loads a Hugging Face tokenizer: tokenizer.json (byte-level or SentencePiece-style BPE) or a
/// SentencePiece tokenizer.model, together with tokenizer_config.json, config.json and
/// generation_config.json when they sit next to it (BOS/EOS ids, add_bos_token).
/// </summary>
public static class HuggingFaceTokenizerLoader
{
    /// <summary>tokenizer.json (the importer's <see cref="HfTokenizerFiles"/> names the same files).</summary>
    public const string TokenizerJsonFileName = HfTokenizerFiles.TokenizerJson;

    /// <summary>tokenizer.model (SentencePiece protobuf).</summary>
    public const string TokenizerModelFileName = "tokenizer.model";

    /// <summary>tokenizer_config.json.</summary>
    public const string TokenizerConfigFileName = HfTokenizerFiles.TokenizerConfigJson;

    /// <summary>config.json.</summary>
    public const string ModelConfigFileName = "config.json";

    /// <summary>generation_config.json.</summary>
    public const string GenerationConfigFileName = "generation_config.json";

    /// <summary>Loads a tokenizer.json and the config files beside it.</summary>
    /// <param name="tokenizerJsonPath">Path of a Hugging Face tokenizer.json.</param>
    /// <returns>The tokenizer and its facts.</returns>
    /// <exception cref="FileNotFoundException">The file is missing.</exception>
    /// <exception cref="InvalidDataException">It is not a Hugging Face tokenizer.json (for example MoeServe's own tokenizer description).</exception>
    /// <exception cref="NotSupportedException">It uses a component this loader does not implement; the message names it.</exception>
    public static HuggingFaceTokenizer Load(string tokenizerJsonPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(tokenizerJsonPath);
        if (!File.Exists(tokenizerJsonPath))
        {
            throw new FileNotFoundException($"No tokenizer file '{tokenizerJsonPath}'.", tokenizerJsonPath);
        }

        string directory = Path.GetDirectoryName(Path.GetFullPath(tokenizerJsonPath))!;
        string json = File.ReadAllText(tokenizerJsonPath);
        try
        {
            return FromJson(json, ReadSibling(directory, TokenizerConfigFileName), ReadSibling(directory, ModelConfigFileName), ReadSibling(directory, GenerationConfigFileName));
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{tokenizerJsonPath}: {e.Message}", e);
        }
    }

    /// <summary>Builds a tokenizer from the text of tokenizer.json and, optionally, the config files.</summary>
    /// <param name="tokenizerJson">tokenizer.json text.</param>
    /// <param name="tokenizerConfigJson">tokenizer_config.json text, or null.</param>
    /// <param name="modelConfigJson">config.json text, or null.</param>
    /// <param name="generationConfigJson">generation_config.json text, or null.</param>
    /// <returns>The tokenizer and its facts.</returns>
    public static HuggingFaceTokenizer FromJson(string tokenizerJson, string? tokenizerConfigJson = null, string? modelConfigJson = null, string? generationConfigJson = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizerJson);
        using var doc = HuggingFaceBpeTokenizer.ParseDocument(tokenizerJson);
        var tokenizer = HuggingFaceBpeTokenizer.FromJson(doc.RootElement);
        using var tokenizerConfig = ParseOptional(tokenizerConfigJson, TokenizerConfigFileName);
        using var modelConfig = ParseOptional(modelConfigJson, ModelConfigFileName);
        using var generationConfig = ParseOptional(generationConfigJson, GenerationConfigFileName);
        var tc = tokenizerConfig?.RootElement;
        var mc = modelConfig?.RootElement;
        var gc = generationConfig?.RootElement;

        var (templateBos, templateEos) = ReadTemplate(doc.RootElement, tokenizer);
        int? Lookup(string? content) => content is null ? null : tokenizer.TokenToId(content);
        int? bos = Lookup(TokenContent(tc, "bos_token")) ?? templateBos ?? FirstId(mc, "bos_token_id") ?? FirstId(gc, "bos_token_id");
        int? eos = Lookup(TokenContent(tc, "eos_token")) ?? FirstId(mc, "eos_token_id") ?? FirstId(gc, "eos_token_id") ?? templateEos;
        int? pad = Lookup(TokenContent(tc, "pad_token")) ?? FirstId(mc, "pad_token_id") ?? FirstId(gc, "pad_token_id");
        var model = doc.RootElement.GetProperty("model");
        int? unk = Lookup(HfJson.String(model, "unk_token") ?? TokenContent(tc, "unk_token"));

        bool addBos = Flag(tc, "add_bos_token") ?? templateBos.HasValue;
        bool addEos = Flag(tc, "add_eos_token") ?? templateEos.HasValue;
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var a in tokenizer.AddedTokens)
        {
            added.TryAdd(a.Content, a.Id);
            if (a.Special)
            {
                special.TryAdd(a.Content, a.Id);
            }
        }

        return new HuggingFaceTokenizer(
            tokenizer,
            tokenizer.IsByteLevel ? TokenizerKind.ByteLevelBpe : TokenizerKind.SentencePieceBpe,
            added,
            special,
            tokenizer.IdToToken,
            tokenizer.Decode)
        {
            BosId = bos,
            EosId = eos,
            PadId = pad,
            UnkId = unk,
            AddBos = addBos && bos.HasValue,
            AddEos = addEos && eos.HasValue,
            EndOfGenerationIds = EndIds(eos, mc, gc),
        };
    }

    /// <summary>
    /// Loads a SentencePiece tokenizer.model (BPE, as Llama 2 and Mixtral ship it) through
    /// Microsoft.ML.Tokenizers' <see cref="LlamaTokenizer"/>, plus the config files beside it.
    /// </summary>
    /// <param name="tokenizerModelPath">Path of tokenizer.model.</param>
    /// <returns>The tokenizer and its facts.</returns>
    public static HuggingFaceTokenizer LoadSentencePieceModel(string tokenizerModelPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(tokenizerModelPath);
        if (!File.Exists(tokenizerModelPath))
        {
            throw new FileNotFoundException($"No tokenizer file '{tokenizerModelPath}'.", tokenizerModelPath);
        }

        string directory = Path.GetDirectoryName(Path.GetFullPath(tokenizerModelPath))!;
        using var tokenizerConfig = ParseOptional(ReadSibling(directory, TokenizerConfigFileName), TokenizerConfigFileName);
        using var modelConfig = ParseOptional(ReadSibling(directory, ModelConfigFileName), ModelConfigFileName);
        using var generationConfig = ParseOptional(ReadSibling(directory, GenerationConfigFileName), GenerationConfigFileName);
        var tc = tokenizerConfig?.RootElement;
        var mc = modelConfig?.RootElement;
        var gc = generationConfig?.RootElement;

        SentencePieceTokenizer probe;
        try
        {
            using var stream = File.OpenRead(tokenizerModelPath);
            probe = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not IOException and not UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{tokenizerModelPath} is not a SentencePiece BPE model Microsoft.ML.Tokenizers can read: {e.Message}", e);
        }

        var special = new Dictionary<string, int>(StringComparer.Ordinal)
        {
            [probe.BeginningOfSentenceToken] = probe.BeginningOfSentenceId,
            [probe.EndOfSentenceToken] = probe.EndOfSentenceId,
            [probe.UnknownToken] = probe.UnknownId,
        };
        var added = new Dictionary<string, int>(special, StringComparer.Ordinal);
        if (tc is JsonElement config && config.TryGetProperty("added_tokens_decoder", out var decoder) && decoder.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in decoder.EnumerateObject())
            {
                if (int.TryParse(p.Name, out int id) && HfJson.String(p.Value, "content") is string content)
                {
                    added[content] = id;
                    if (HfJson.Bool(p.Value, "special", false))
                    {
                        special[content] = id;
                    }
                }
            }
        }

        LlamaTokenizer tokenizer;
        using (var stream = File.OpenRead(tokenizerModelPath))
        {
            tokenizer = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false, specialTokens: added);
        }

        var byId = new Dictionary<int, string>();
        foreach (var (piece, id) in tokenizer.Vocabulary)
        {
            byId.TryAdd(id, piece);
        }

        foreach (var (content, id) in added)
        {
            byId[id] = content;
        }

        int? Lookup(string? content) => content is not null && added.TryGetValue(content, out int id) ? id : null;
        int eos = Lookup(TokenContent(tc, "eos_token")) ?? tokenizer.EndOfSentenceId;
        return new HuggingFaceTokenizer(
            tokenizer,
            TokenizerKind.SentencePieceModel,
            added,
            special,
            id => byId.GetValueOrDefault(id),
            (ids, skip) => tokenizer.Decode(ids, considerSpecialTokens: !skip))
        {
            BosId = Lookup(TokenContent(tc, "bos_token")) ?? tokenizer.BeginningOfSentenceId,
            EosId = eos,
            PadId = Lookup(TokenContent(tc, "pad_token")) ?? FirstId(mc, "pad_token_id"),
            UnkId = tokenizer.UnknownId,
            AddBos = Flag(tc, "add_bos_token") ?? true,
            AddEos = Flag(tc, "add_eos_token") ?? false,
            EndOfGenerationIds = EndIds(eos, mc, gc),
        };
    }

    /// <summary>
    /// Whether a file is a Hugging Face tokenizer.json: a JSON object with a "model" object. MoeServe's
    /// own tokenizer.json (format "tiktoken", next to tokenizer.tiktoken) is not.
    /// </summary>
    /// <param name="path">A JSON file.</param>
    /// <returns>True for a Hugging Face tokenizer.json.</returns>
    public static bool IsHuggingFaceTokenizerJson(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(File.ReadAllBytes(path), new JsonReaderOptions { MaxDepth = 256 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool isModel = reader.ValueTextEquals("model"u8);
                reader.Read();
                if (isModel)
                {
                    return reader.TokenType == JsonTokenType.StartObject;
                }

                reader.Skip();
            }

            return false;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string? ReadSibling(string directory, string name)
    {
        string path = Path.Combine(directory, name);
        return File.Exists(path) ? File.ReadAllText(path, Encoding.UTF8) : null;
    }

    private static JsonDocument? ParseOptional(string? json, string name)
    {
        if (json is null)
        {
            return null;
        }

        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{name} is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>tokenizer_config's "bos_token" etc.: a string or {"content": ...}.</summary>
    private static string? TokenContent(JsonElement? config, string name)
    {
        if (config is not JsonElement c || !c.TryGetProperty(name, out var v))
        {
            return null;
        }

        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object => HfJson.String(v, "content"),
            _ => null,
        };
    }

    private static bool? Flag(JsonElement? config, string name) =>
        config is JsonElement c && c.TryGetProperty(name, out var v) && (v.ValueKind == JsonValueKind.True || v.ValueKind == JsonValueKind.False) ? v.GetBoolean() : null;

    private static IEnumerable<int> Ids(JsonElement? config, string name)
    {
        if (config is not JsonElement c || !c.TryGetProperty(name, out var v))
        {
            yield break;
        }

        if (v.ValueKind == JsonValueKind.Number)
        {
            yield return v.GetInt32();
        }
        else if (v.ValueKind == JsonValueKind.Array)
        {
            foreach (var x in v.EnumerateArray())
            {
                if (x.ValueKind == JsonValueKind.Number)
                {
                    yield return x.GetInt32();
                }
            }
        }
    }

    private static int? FirstId(JsonElement? config, string name)
    {
        foreach (int id in Ids(config, name))
        {
            return id;
        }

        return null;
    }

    private static List<int> EndIds(int? eos, JsonElement? modelConfig, JsonElement? generationConfig)
    {
        var ids = new List<int>();
        if (eos is int e)
        {
            ids.Add(e);
        }

        foreach (int id in Ids(modelConfig, "eos_token_id").Concat(Ids(generationConfig, "eos_token_id")))
        {
            if (!ids.Contains(id))
            {
                ids.Add(id);
            }
        }

        return ids;
    }

    /// <summary>A TemplateProcessing post-processor's special tokens before and after $A (single sequence).</summary>
    private static (int? Bos, int? Eos) ReadTemplate(JsonElement root, HuggingFaceBpeTokenizer tokenizer)
    {
        if (!root.TryGetProperty("post_processor", out var pp) || pp.ValueKind != JsonValueKind.Object)
        {
            return (null, null);
        }

        var processors = HfJson.String(pp, "type") == "Sequence" && pp.TryGetProperty("processors", out var list)
            ? list.EnumerateArray().ToList()
            : [pp];
        foreach (var p in processors)
        {
            if (HfJson.String(p, "type") != "TemplateProcessing" || !p.TryGetProperty("single", out var single))
            {
                continue;
            }

            int? bos = null;
            int? eos = null;
            bool seenSequence = false;
            foreach (var item in single.EnumerateArray())
            {
                if (item.TryGetProperty("Sequence", out _))
                {
                    seenSequence = true;
                }
                else if (item.TryGetProperty("SpecialToken", out var st) && HfJson.String(st, "id") is string name)
                {
                    int? id = p.TryGetProperty("special_tokens", out var map) && map.TryGetProperty(name, out var entry) && entry.TryGetProperty("ids", out var ids) && ids.GetArrayLength() > 0
                        ? ids[0].GetInt32()
                        : tokenizer.TokenToId(name);
                    if (seenSequence)
                    {
                        eos ??= id;
                    }
                    else
                    {
                        bos ??= id;
                    }
                }
            }

            return (bos, eos);
        }

        return (null, null);
    }
}
