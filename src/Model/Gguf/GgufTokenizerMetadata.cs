namespace MoeServe.Model.Gguf;

/// <summary>
/// The tokenizer and chat template a GGUF carries (the <c>tokenizer.*</c> keys llama.cpp's converter
/// writes), for the tokenizer and chat-template code to build from. Lists are as stored: index i is
/// token id i.
/// </summary>
/// <param name="Model">tokenizer.ggml.model: "gpt2" (byte-level BPE), "llama" (SentencePiece), ...</param>
/// <param name="Pre">tokenizer.ggml.pre: the pre-tokenizer llama.cpp recognises ("qwen2", "llama-bpe", "olmo", ...), or null.</param>
/// <param name="Tokens">tokenizer.ggml.tokens.</param>
/// <param name="Merges">tokenizer.ggml.merges ("a b" per merge, highest priority first), or null.</param>
/// <param name="TokenTypes">tokenizer.ggml.token_type (see <see cref="GgufTokenType"/>), or null.</param>
/// <param name="Scores">tokenizer.ggml.scores, or null.</param>
/// <param name="BosTokenId">tokenizer.ggml.bos_token_id.</param>
/// <param name="EosTokenId">tokenizer.ggml.eos_token_id.</param>
/// <param name="PadTokenId">tokenizer.ggml.padding_token_id.</param>
/// <param name="UnknownTokenId">tokenizer.ggml.unknown_token_id.</param>
/// <param name="EotTokenId">tokenizer.ggml.eot_token_id (end of turn).</param>
/// <param name="AddBosToken">tokenizer.ggml.add_bos_token (null when absent: llama.cpp then decides by model).</param>
/// <param name="AddEosToken">tokenizer.ggml.add_eos_token.</param>
/// <param name="ChatTemplate">tokenizer.chat_template (Jinja), or null.</param>
public sealed record GgufTokenizerMetadata(
    string Model,
    string? Pre,
    IReadOnlyList<string> Tokens,
    IReadOnlyList<string>? Merges,
    IReadOnlyList<int>? TokenTypes,
    IReadOnlyList<float>? Scores,
    int? BosTokenId,
    int? EosTokenId,
    int? PadTokenId,
    int? UnknownTokenId,
    int? EotTokenId,
    bool? AddBosToken,
    bool? AddEosToken,
    string? ChatTemplate)
{
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
        return new GgufTokenizerMetadata(
            model,
            file.GetString("tokenizer.ggml.pre"),
            tokens,
            file.Find("tokenizer.ggml.merges")?.AsArray<string>(),
            file.Find("tokenizer.ggml.token_type") is { } types ? Array.ConvertAll(types.AsInt64Array(), t => checked((int)t)) : null,
            file.Find("tokenizer.ggml.scores")?.AsFloat32Array(),
            Id(file, "tokenizer.ggml.bos_token_id"),
            Id(file, "tokenizer.ggml.eos_token_id"),
            Id(file, "tokenizer.ggml.padding_token_id"),
            Id(file, "tokenizer.ggml.unknown_token_id"),
            Id(file, "tokenizer.ggml.eot_token_id"),
            file.GetBool("tokenizer.ggml.add_bos_token"),
            file.GetBool("tokenizer.ggml.add_eos_token"),
            file.GetString("tokenizer.chat_template"));
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
