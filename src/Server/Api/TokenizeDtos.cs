using System.Text.Json;

namespace MoeServe.Server.Api;

/// <summary>Body of POST /tokenize, vLLM's TokenizeCompletionRequest and TokenizeChatRequest in one: 'prompt' or 'messages'.</summary>
public sealed class TokenizeRequestDto : ModelRequestDto
{
    /// <summary>Text to tokenize (vLLM's completion form).</summary>
    public string? Prompt { get; set; }

    /// <summary>A conversation to render with the model's chat template, then tokenize (vLLM's chat form).</summary>
    public List<ChatMessageDto?>? Messages { get; set; }

    /// <summary>With 'messages': end with the assistant's turn opener; default true, as the chat endpoint does.</summary>
    public bool? AddGenerationPrompt { get; set; }

    /// <summary>Put BOS in front when the model asks for one; default true for 'prompt' (as /v1/completions does).
    /// For 'messages' the ids are always the chat endpoint's (BOS at most once), whatever this says.</summary>
    public bool? AddSpecialTokens { get; set; }

    /// <summary>Also return each token as a string.</summary>
    public bool? ReturnTokenStrs { get; set; }

    /// <summary>vLLM's open-ended last message; not supported (refused when true).</summary>
    public bool? ContinueFinalMessage { get; set; }
}

/// <summary>Body of POST /detokenize.</summary>
public sealed class DetokenizeRequestDto : ModelRequestDto
{
    /// <summary>Token ids (read as JSON so that a bad element is reported by its index).</summary>
    public JsonElement? Tokens { get; set; }
}

/// <summary>Response of POST /tokenize (vLLM's TokenizeResponse).</summary>
/// <param name="Count">Number of tokens.</param>
/// <param name="MaxModelLen">The served context length.</param>
/// <param name="Tokens">The ids.</param>
/// <param name="TokenStrs">Each token as a string, when asked for.</param>
public sealed record TokenizeResponseDto(int Count, int MaxModelLen, IReadOnlyList<int> Tokens, IReadOnlyList<string>? TokenStrs);

/// <summary>Response of POST /detokenize (vLLM's DetokenizeResponse).</summary>
/// <param name="Prompt">The decoded text.</param>
public sealed record DetokenizeResponseDto(string Prompt);
