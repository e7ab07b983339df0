using System.Text.Json;

namespace MoeServe.Server.Api;

/// <summary>A /tokenize request after shape validation.</summary>
/// <param name="Model">Model id the client asked for, or null.</param>
/// <param name="Prompt">Text to tokenize, or null when <paramref name="Messages"/> is set.</param>
/// <param name="Messages">A conversation to render with the chat template, or null.</param>
/// <param name="AddGenerationPrompt">With messages: end with the assistant's turn opener.</param>
/// <param name="AddSpecialTokens">With prompt: BOS as the model asks.</param>
/// <param name="ReturnTokenStrs">Also return each token as a string.</param>
public sealed record TokenizeSpec(string? Model, string? Prompt, IReadOnlyList<ChatTurn>? Messages, bool AddGenerationPrompt, bool AddSpecialTokens, bool ReturnTokenStrs);

/// <summary>A /detokenize request after shape validation: every id a non-negative int (the vocabulary is checked against the model later).</summary>
/// <param name="Model">Model id the client asked for, or null.</param>
/// <param name="Tokens">The ids.</param>
public sealed record DetokenizeSpec(string? Model, IReadOnlyList<int> Tokens);

/// <summary>
/// Parses vLLM's /tokenize and /detokenize bodies into specs or an <see cref="ApiError"/> naming the field, with the same
/// body checks as the generation endpoints (<see cref="RequestParser.Deserialize"/>) and the chat endpoint's message rules.
/// </summary>
public static class TokenizeRequestParser
{
    // vLLM fields that would change the ids if silently ignored.
    private static readonly string[] RefusedWhenSet = ["chat_template", "chat_template_kwargs", "tools", "mm_processor_kwargs", "media_io_kwargs"];

    /// <summary>Parses a /tokenize body: exactly one of 'prompt' (a string) and 'messages'.</summary>
    public static (TokenizeSpec? Spec, ApiError? Error) ParseTokenize(ReadOnlySpan<byte> body)
    {
        var (dto, error) = RequestParser.Deserialize(body, ServerJsonContext.Default.TokenizeRequestDto);
        if (dto is null)
        {
            return (null, error);
        }

        foreach (var name in RefusedWhenSet)
        {
            if (dto.Extra is not null && dto.Extra.TryGetValue(name, out var value) && RequestParser.IsSet(value))
            {
                return (null, ApiError.Unsupported(name, "this server tokenizes with the model's own chat template only."));
            }
        }

        if (dto.ContinueFinalMessage == true)
        {
            return (null, ApiError.Unsupported("continue_final_message", "only a closed last message (optionally followed by the generation prompt) is supported."));
        }

        var returnStrings = dto.ReturnTokenStrs ?? false;
        if (dto.Prompt is not null && dto.Messages is not null)
        {
            return (null, ApiError.Invalid("Send either 'prompt' (text) or 'messages' (a conversation), not both.", "prompt"));
        }

        if (dto.Prompt is { } prompt)
        {
            if (dto.AddGenerationPrompt is not null)
            {
                return (null, ApiError.Invalid("'add_generation_prompt' applies to 'messages' only.", "add_generation_prompt"));
            }

            return (new TokenizeSpec(dto.Model, prompt, null, AddGenerationPrompt: false, dto.AddSpecialTokens ?? true, returnStrings), null);
        }

        if (dto.Messages is null)
        {
            return (null, ApiError.Invalid("'prompt' (text) or 'messages' (a conversation) is required.", "prompt", "missing_required_parameter"));
        }

        var (turns, messagesError) = RequestParser.ParseMessages(dto.Messages);
        return turns is null
            ? (null, messagesError)
            : (new TokenizeSpec(dto.Model, null, turns, dto.AddGenerationPrompt ?? true, dto.AddSpecialTokens ?? false, returnStrings), null);
    }

    /// <summary>Parses a /detokenize body: 'tokens', an array of non-negative integer ids.</summary>
    public static (DetokenizeSpec? Spec, ApiError? Error) ParseDetokenize(ReadOnlySpan<byte> body)
    {
        var (dto, error) = RequestParser.Deserialize(body, ServerJsonContext.Default.DetokenizeRequestDto);
        if (dto is null)
        {
            return (null, error);
        }

        if (dto.Tokens is not { } tokens || tokens.ValueKind == JsonValueKind.Null)
        {
            return (null, ApiError.Missing("tokens"));
        }

        if (tokens.ValueKind != JsonValueKind.Array)
        {
            return (null, ApiError.Invalid($"'tokens' must be an array of token ids; got {RequestParser.Describe(tokens.ValueKind)}.", "tokens", "invalid_type"));
        }

        var ids = new List<int>(tokens.GetArrayLength());
        foreach (var item in tokens.EnumerateArray())
        {
            var at = $"tokens[{ids.Count}]";
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out var id))
            {
                return (null, ApiError.Invalid($"'{at}' must be an integer token id; got {(item.ValueKind == JsonValueKind.Number ? "a fraction or a number outside the 32-bit range" : RequestParser.Describe(item.ValueKind))}.", at, "invalid_type"));
            }

            if (id < 0)
            {
                return (null, ApiError.Invalid($"'{at}' is {id}; token ids are not negative.", at));
            }

            ids.Add(id);
        }

        return (new DetokenizeSpec(dto.Model, ids), null);
    }
}
