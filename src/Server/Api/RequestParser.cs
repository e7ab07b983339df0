using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.Unicode;

namespace MoeServe.Server.Api;

/// <summary>
/// Turns a request body into a <see cref="GenerationSpec"/> or an <see cref="ApiError"/> naming the bad
/// field: invalid UTF-8, malformed JSON, wrong types, out-of-range values and unsupported fields.
/// </summary>
public static class RequestParser
{
    /// <summary>Most stop strings (OpenAI's limit).</summary>
    public const int MaxStopSequences = 4;

    /// <summary>Most alternatives per token for logprobs (OpenAI's limit on /v1/completions).</summary>
    public const int MaxLogprobs = 5;

    // Fields OpenAI defines that would change the output if silently ignored.
    private static readonly string[] RefusedWhenSet =
    [
        "suffix", "logit_bias", "tools", "tool_choice", "functions", "function_call", "parallel_tool_calls",
        "audio", "modalities", "prediction", "web_search_options",
    ];

    private static readonly string[] RefusedWhenNotZero = ["presence_penalty", "frequency_penalty"];

    // The same reader settings the source-generated deserializer uses, so the pre-scan accepts and refuses the same syntax.
    private static readonly JsonReaderOptions ReaderOptions = new()
    {
        CommentHandling = ServerJsonContext.Default.Options.ReadCommentHandling,
        AllowTrailingCommas = ServerJsonContext.Default.Options.AllowTrailingCommas,
        MaxDepth = ServerJsonContext.Default.Options.MaxDepth, // 0 means 64 for both
    };

    /// <summary>Parses a /v1/completions body.</summary>
    public static (GenerationSpec? Spec, ApiError? Error) ParseCompletion(ReadOnlySpan<byte> body)
    {
        var (dto, error) = DeserializeGeneration(body, ServerJsonContext.Default.CompletionRequestDto);
        if (dto is null)
        {
            return (null, error);
        }

        if (dto.Extra is not null && dto.Extra.TryGetValue("best_of", out var bestOf) && !(bestOf.ValueKind == JsonValueKind.Number && bestOf.TryGetInt32(out var b) && b == 1) && bestOf.ValueKind != JsonValueKind.Null)
        {
            return (null, ApiError.Unsupported("best_of", "only 1 is supported."));
        }

        if (dto.Logprobs is < 0 or > MaxLogprobs)
        {
            return (null, ApiError.Invalid($"'logprobs' must be between 0 and {MaxLogprobs}, got {dto.Logprobs}.", "logprobs"));
        }

        string? promptText = null;
        List<int>? promptTokens = null;
        if (dto.Prompt is not { } prompt || prompt.ValueKind == JsonValueKind.Null)
        {
            return (null, ApiError.Missing("prompt"));
        }

        switch (prompt.ValueKind)
        {
            case JsonValueKind.String:
                promptText = prompt.GetString()!;
                break;
            case JsonValueKind.Array:
                var (text, tokens, arrayError) = ParsePromptArray(prompt);
                if (arrayError is not null)
                {
                    return (null, arrayError);
                }

                promptText = text;
                promptTokens = tokens;
                break;
            default:
                return (null, ApiError.Invalid($"'prompt' must be a string, an array with one string, or an array of token ids; got {Describe(prompt.ValueKind)}.", "prompt", "invalid_type"));
        }

        if ((promptText is not null && promptText.Length == 0) || (promptTokens is not null && promptTokens.Count == 0))
        {
            return (null, ApiError.Invalid("'prompt' must not be empty.", "prompt"));
        }

        var (stop, stopError) = ParseStop(dto.Stop);
        if (stopError is not null)
        {
            return (null, stopError);
        }

        return (Common(dto, EndpointKind.Completion) with
        {
            PromptText = promptText,
            PromptTokens = promptTokens,
            MaxTokens = dto.MaxTokens,
            Stop = stop,
            Logprobs = dto.Logprobs,
            Echo = dto.Echo ?? false,
        }, null);
    }

    /// <summary>Parses a /v1/chat/completions body.</summary>
    public static (GenerationSpec? Spec, ApiError? Error) ParseChat(ReadOnlySpan<byte> body)
    {
        var (dto, error) = DeserializeGeneration(body, ServerJsonContext.Default.ChatCompletionRequestDto);
        if (dto is null)
        {
            return (null, error);
        }

        if (dto.MaxCompletionTokens is < 1)
        {
            return (null, ApiError.Invalid($"'max_completion_tokens' must be at least 1, got {dto.MaxCompletionTokens}.", "max_completion_tokens"));
        }

        if (dto.Logprobs == true || dto.TopLogprobs is not null)
        {
            return (null, ApiError.Unsupported(dto.Logprobs == true ? "logprobs" : "top_logprobs", "log-probabilities are offered on /v1/completions only."));
        }

        if (dto.Extra is not null && dto.Extra.TryGetValue("response_format", out var format) && format.ValueKind != JsonValueKind.Null
            && !(format.ValueKind == JsonValueKind.Object && format.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "text"))
        {
            return (null, ApiError.Unsupported("response_format", "only {\"type\": \"text\"} is supported."));
        }

        var (turns, messagesError) = ParseMessages(dto.Messages);
        if (turns is null)
        {
            return (null, messagesError);
        }

        var (stop, stopError) = ParseStop(dto.Stop);
        if (stopError is not null)
        {
            return (null, stopError);
        }

        return (Common(dto, EndpointKind.Chat) with
        {
            Messages = turns,
            MaxTokens = dto.MaxCompletionTokens ?? dto.MaxTokens,
            MaxTokensParam = dto.MaxCompletionTokens is null ? "max_tokens" : "max_completion_tokens",
            Stop = stop,
        }, null);
    }

    /// <summary>Deserializes a body after checking its encoding and surrogates; errors name the field (shared by every JSON endpoint).</summary>
    internal static (T? Dto, ApiError? Error) Deserialize<T>(ReadOnlySpan<byte> body, JsonTypeInfo<T> typeInfo)
        where T : class
    {
        if (body.IsEmpty)
        {
            return (null, ApiError.Invalid("The request body is empty; send a JSON object.", null, "invalid_json"));
        }

        if (!Utf8.IsValid(body))
        {
            return (null, ApiError.Invalid("The request body is not valid UTF-8.", null, "invalid_encoding"));
        }

        try
        {
            // Before deserializing: the deserializer and GetString throw InvalidOperationException on
            // such strings, not JsonException, and without naming the field.
            if (UnpairedSurrogateScanner.TryFind(body, ReaderOptions, out var at, out var inName))
            {
                return (null, UnpairedSurrogate(at, inName));
            }

            var dto = JsonSerializer.Deserialize(body, typeInfo);
            return dto is null
                ? (null, ApiError.Invalid("The request body must be a JSON object, got null.", null, "invalid_json"))
                : (dto, null);
        }
        catch (JsonException e)
        {
            return (null, DescribeJsonError(e));
        }
    }

    private static ApiError UnpairedSurrogate(string? param, bool inPropertyName)
    {
        const string What = "an unpaired UTF-16 surrogate escape (such as \\ud800 without a \\udc00-\\udfff after it), which is not Unicode text";
        var message = (inPropertyName, param) switch
        {
            (true, null) => $"A property name holds {What}.",
            (true, _) => $"A property name in '{param}' holds {What}.",
            _ => $"'{param}' holds {What}.",
        };
        return ApiError.Invalid(message, param, "invalid_encoding");
    }

    private static ApiError DescribeJsonError(JsonException e)
    {
        // Syntax errors carry the reader's exception inside; type mismatches do not.
        var param = e.InnerException is JsonException ? null : ParamFromPath(e.Path);
        var where = e.LineNumber is { } line ? $" (line {line + 1}, byte {e.BytePositionInLine + 1})" : "";
        if (param is null)
        {
            return ApiError.Invalid($"The request body is not a valid JSON object{where}.", null, "invalid_json");
        }

        return ApiError.Invalid($"'{param}' has the wrong type or is malformed{where}.", param, "invalid_type");
    }

    // "$.messages[0].content" -> "messages[0].content"; "$" -> null.
    private static string? ParamFromPath(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$")
        {
            return null;
        }

        var trimmed = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
        return trimmed.Length == 0 ? null : trimmed;
    }

    // Both generation endpoints: the body as T, then the fields they share checked before their own.
    private static (T? Dto, ApiError? Error) DeserializeGeneration<T>(ReadOnlySpan<byte> body, JsonTypeInfo<T> typeInfo)
        where T : GenerationRequestDto
    {
        var (dto, error) = Deserialize(body, typeInfo);
        if (dto is null)
        {
            return (null, error);
        }

        return CheckCommon(dto) is { } common ? (null, common) : (dto, null);
    }

    private static ApiError? CheckCommon(GenerationRequestDto dto)
    {
        if (dto.MaxTokens is < 1)
        {
            return ApiError.Invalid($"'max_tokens' must be at least 1, got {dto.MaxTokens}.", "max_tokens");
        }

        if (dto.Temperature is { } t && (t < 0 || t > 2 || double.IsNaN(t)))
        {
            return ApiError.Invalid($"'temperature' must be between 0 and 2, got {t}.", "temperature");
        }

        if (dto.TopP is { } p && (p <= 0 || p > 1 || double.IsNaN(p)))
        {
            return ApiError.Invalid($"'top_p' must be greater than 0 and at most 1, got {p}.", "top_p");
        }

        if (dto.TopK is < 0)
        {
            return ApiError.Invalid($"'top_k' must be 0 (off) or positive, got {dto.TopK}.", "top_k");
        }

        if (dto.N is { } n && n != 1)
        {
            return ApiError.Unsupported("n", $"only n = 1 is supported, got {n}.");
        }

        if (dto.StreamOptions is not null && dto.Stream != true)
        {
            return ApiError.Invalid("'stream_options' is only allowed when 'stream' is true.", "stream_options");
        }

        if (dto.Extra is null)
        {
            return null;
        }

        foreach (var name in RefusedWhenSet)
        {
            if (dto.Extra.TryGetValue(name, out var value) && IsSet(value))
            {
                return ApiError.Unsupported(name, "this server generates plain text only.");
            }
        }

        foreach (var name in RefusedWhenNotZero)
        {
            if (dto.Extra.TryGetValue(name, out var value) && value.ValueKind != JsonValueKind.Null
                && !(value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var number) && number == 0))
            {
                return ApiError.Unsupported(name, "only 0 is supported.");
            }
        }

        return null;
    }

    private static GenerationSpec Common(GenerationRequestDto dto, EndpointKind kind) => new()
    {
        Kind = kind,
        Model = dto.Model,
        Temperature = dto.Temperature,
        TopP = dto.TopP,
        TopK = dto.TopK,
        Seed = dto.Seed,
        Stream = dto.Stream ?? false,
        IgnoreEos = dto.IgnoreEos ?? false,
        IncludeUsage = dto.StreamOptions?.IncludeUsage ?? false,
    };

    private static (string? Text, List<int>? Tokens, ApiError? Error) ParsePromptArray(JsonElement prompt)
    {
        var count = prompt.GetArrayLength();
        if (count == 0)
        {
            return (null, null, ApiError.Invalid("'prompt' must not be empty.", "prompt"));
        }

        var first = prompt[0];
        if (first.ValueKind == JsonValueKind.String)
        {
            if (count != 1)
            {
                return (null, null, ApiError.Unsupported("prompt", $"one prompt per request (n = 1), got an array of {count}."));
            }

            return (first.GetString(), null, null);
        }

        var tokens = new List<int>(count);
        var index = 0;
        foreach (var item in prompt.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out var id) || id < 0)
            {
                return (null, null, ApiError.Invalid($"'prompt[{index}]' must be a non-negative integer token id (or prompt a string); got {Describe(item.ValueKind)}.", $"prompt[{index}]", "invalid_type"));
            }

            tokens.Add(id);
            index++;
        }

        return (null, tokens, null);
    }

    private static (IReadOnlyList<string> Stop, ApiError? Error) ParseStop(JsonElement? stop)
    {
        if (stop is not { } value || value.ValueKind == JsonValueKind.Null)
        {
            return ([], null);
        }

        if (value.ValueKind == JsonValueKind.String)
        {
            var single = value.GetString()!;
            return single.Length == 0
                ? ([], ApiError.Invalid("'stop' must not be an empty string.", "stop"))
                : ([single], null);
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            return ([], ApiError.Invalid($"'stop' must be a string or an array of up to {MaxStopSequences} strings; got {Describe(value.ValueKind)}.", "stop", "invalid_type"));
        }

        if (value.GetArrayLength() > MaxStopSequences)
        {
            return ([], ApiError.Invalid($"'stop' may hold at most {MaxStopSequences} strings, got {value.GetArrayLength()}.", "stop"));
        }

        var list = new List<string>();
        var i = 0;
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
            {
                return ([], ApiError.Invalid($"'stop[{i}]' must be a string; got {Describe(item.ValueKind)}.", $"stop[{i}]", "invalid_type"));
            }

            var s = item.GetString()!;
            if (s.Length == 0)
            {
                return ([], ApiError.Invalid($"'stop[{i}]' must not be empty.", $"stop[{i}]"));
            }

            list.Add(s);
            i++;
        }

        return (list, null);
    }

    /// <summary>The 'messages' of a chat request: at least one, each as <see cref="ParseMessage"/> checks it (shared with /tokenize).</summary>
    internal static (List<ChatTurn>? Turns, ApiError? Error) ParseMessages(List<ChatMessageDto?>? messages)
    {
        if (messages is null)
        {
            return (null, ApiError.Missing("messages"));
        }

        if (messages.Count == 0)
        {
            return (null, ApiError.Invalid("'messages' must hold at least one message.", "messages"));
        }

        var turns = new List<ChatTurn>(messages.Count);
        for (var i = 0; i < messages.Count; i++)
        {
            var (turn, turnError) = ParseMessage(messages[i], i);
            if (turnError is not null)
            {
                return (null, turnError);
            }

            turns.Add(turn!);
        }

        return (turns, null);
    }

    /// <summary>One chat message as the chat endpoint accepts it.</summary>
    private static (ChatTurn? Turn, ApiError? Error) ParseMessage(ChatMessageDto? message, int index)
    {
        var at = $"messages[{index}]";
        if (message is null)
        {
            return (null, ApiError.Invalid($"'{at}' must be an object with 'role' and 'content'.", at, "invalid_type"));
        }

        var role = message.Role;
        if (role is null)
        {
            return (null, ApiError.Missing(at + ".role"));
        }

        role = role switch
        {
            "developer" => "system",
            _ => role,
        };
        if (role is not ("system" or "user" or "assistant"))
        {
            return (null, ApiError.Invalid($"'{at}.role' must be system, developer, user or assistant; got '{message.Role}'.", at + ".role"));
        }

        if (message.Content is not { } content || content.ValueKind == JsonValueKind.Null)
        {
            return (null, ApiError.Missing(at + ".content"));
        }

        if (content.ValueKind == JsonValueKind.String)
        {
            return (new ChatTurn(role, content.GetString()!), null);
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            return (null, ApiError.Invalid($"'{at}.content' must be a string or an array of text parts; got {Describe(content.ValueKind)}.", at + ".content", "invalid_type"));
        }

        var text = new System.Text.StringBuilder();
        var part = 0;
        foreach (var item in content.EnumerateArray())
        {
            var partAt = $"{at}.content[{part}]";
            if (item.ValueKind != JsonValueKind.Object
                || !item.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            {
                return (null, ApiError.Invalid($"'{partAt}' must be an object {{\"type\": \"text\", \"text\": ...}}.", partAt, "invalid_type"));
            }

            if (type.GetString() != "text")
            {
                return (null, ApiError.Unsupported(partAt + ".type", $"only text parts are supported, got '{type.GetString()}'."));
            }

            if (!item.TryGetProperty("text", out var partText) || partText.ValueKind != JsonValueKind.String)
            {
                return (null, ApiError.Invalid($"'{partAt}.text' must be a string.", partAt + ".text", "invalid_type"));
            }

            text.Append(partText.GetString());
            part++;
        }

        return (new ChatTurn(role, text.ToString()), null);
    }

    /// <summary>Whether an optional field carries a value: not null, not {} and not [].</summary>
    internal static bool IsSet(JsonElement value) =>
        value.ValueKind != JsonValueKind.Null
        && !(value.ValueKind == JsonValueKind.Object && !value.EnumerateObject().Any())
        && !(value.ValueKind == JsonValueKind.Array && value.GetArrayLength() == 0);

    /// <summary>"an array", "a string", ... for error messages.</summary>
    internal static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };
}
