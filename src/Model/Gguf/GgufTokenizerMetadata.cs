namespace MoeServe.Model.Gguf;

/// <summary>
/// The tokenizer and chat template a GGUF carries (the <c>tokenizer.*</c> keys llama.cpp's converter
/// writes), as plain arrays: index i is token id i. The GGUF reader fills it; the tokenizer code
/// (MoeServe.Text.HuggingFace.GgufTokenizerConverter) turns it into a Hugging Face tokenizer.json.
/// </summary>
public sealed record GgufTokenizerMetadata
{
    /// <summary>tokenizer.ggml.model: "gpt2" (byte-level BPE with merges) or "llama" (SentencePiece BPE with scores).</summary>
    public required string Model { get; init; }

    /// <summary>tokenizer.ggml.pre: the pre-tokenizer llama.cpp recognises ("qwen2", "default", "llama-bpe", "olmo", "gpt-2", ...), or null.</summary>
    public string? Pre { get; init; }

    /// <summary>tokenizer.ggml.tokens: token text by id.</summary>
    public required IReadOnlyList<string> Tokens { get; init; }

    /// <summary>tokenizer.ggml.merges: "left right" by rank, highest priority first (gpt2), or null.</summary>
    public IReadOnlyList<string>? Merges { get; init; }

    /// <summary>tokenizer.ggml.token_type by id (see <see cref="GgufTokenType"/>), or null.</summary>
    public IReadOnlyList<int>? TokenTypes { get; init; }

    /// <summary>tokenizer.ggml.scores by id (llama): higher merges first; or null.</summary>
    public IReadOnlyList<float>? Scores { get; init; }

    /// <summary>tokenizer.ggml.bos_token_id.</summary>
    public int? BosTokenId { get; init; }

    /// <summary>tokenizer.ggml.eos_token_id.</summary>
    public int? EosTokenId { get; init; }

    /// <summary>tokenizer.ggml.padding_token_id.</summary>
    public int? PaddingTokenId { get; init; }

    /// <summary>tokenizer.ggml.unknown_token_id.</summary>
    public int? UnknownTokenId { get; init; }

    /// <summary>tokenizer.ggml.eot_token_id (end of turn).</summary>
    public int? EotTokenId { get; init; }

    /// <summary>tokenizer.ggml.add_bos_token (null when absent: llama.cpp then decides by model).</summary>
    public bool? AddBosToken { get; init; }

    /// <summary>tokenizer.ggml.add_eos_token.</summary>
    public bool? AddEosToken { get; init; }

    /// <summary>tokenizer.ggml.add_space_prefix (llama; default true): prepend ▁ to the text.</summary>
    public bool? AddSpacePrefix { get; init; }

    /// <summary>tokenizer.chat_template (Jinja), or null.</summary>
    public string? ChatTemplate { get; init; }

    /// <summary>The tokenizer metadata of <paramref name="file"/>, or null when it has no tokenizer.ggml.model.</summary>
    public static GgufTokenizerMetadata? FromFile(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        string? model = file.GetString("tokenizer.ggml.model");
        if (model is null)
        {
            return null;
        }

        string[] tokens = file.Find("tokenizer.ggml.tokens")?.AsArray<string>()
            ?? throw new InvalidDataException($"{file.Path}: tokenizer.ggml.model is '{model}' but there is no tokenizer.ggml.tokens.");
        return new GgufTokenizerMetadata
        {
            Model = model,
            Pre = file.GetString("tokenizer.ggml.pre"),
            Tokens = tokens,
            Merges = file.Find("tokenizer.ggml.merges")?.AsArray<string>(),
            TokenTypes = file.Find("tokenizer.ggml.token_type") is { } types ? Array.ConvertAll(types.AsInt64Array(), t => checked((int)t)) : null,
            Scores = file.Find("tokenizer.ggml.scores")?.AsFloat32Array(),
            BosTokenId = Id(file, "tokenizer.ggml.bos_token_id"),
            EosTokenId = Id(file, "tokenizer.ggml.eos_token_id"),
            PaddingTokenId = Id(file, "tokenizer.ggml.padding_token_id"),
            UnknownTokenId = Id(file, "tokenizer.ggml.unknown_token_id"),
            EotTokenId = Id(file, "tokenizer.ggml.eot_token_id"),
            AddBosToken = file.GetBool("tokenizer.ggml.add_bos_token"),
            AddEosToken = file.GetBool("tokenizer.ggml.add_eos_token"),
            AddSpacePrefix = file.GetBool("tokenizer.ggml.add_space_prefix"),
            ChatTemplate = file.GetString("tokenizer.chat_template"),
        };
    }

    private static int? Id(GgufFile file, string key) => file.GetInteger(key) is { } v ? checked((int)v) : null;
}

/// <summary>llama.cpp's token types (tokenizer.ggml.token_type values).</summary>
public static class GgufTokenType
{
    /// <summary>An ordinary token.</summary>
    public const int Normal = 1;

    /// <summary>The unknown token.</summary>
    public const int Unknown = 2;

    /// <summary>A control (special) token such as &lt;|im_end|&gt;.</summary>
    public const int Control = 3;

    /// <summary>A user-defined (added, not special) token.</summary>
    public const int UserDefined = 4;

    /// <summary>An unused slot.</summary>
    public const int Unused = 5;

    /// <summary>A byte token (&lt;0x41&gt;) of a SentencePiece byte fallback.</summary>
    public const int Byte = 6;
}
