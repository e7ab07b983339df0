using System.Text.Json.Serialization;

namespace MoeServe.Server.Api;

/// <summary>Token counts of one request.</summary>
public sealed record UsageDto(int PromptTokens, int CompletionTokens, int TotalTokens);

/// <summary>Log-probabilities of a completion choice, in OpenAI's legacy completions layout.</summary>
public sealed class CompletionLogprobsDto
{
    /// <summary>Each generated token's text.</summary>
    public List<string> Tokens { get; } = [];

    /// <summary>Log-probability of each generated token.</summary>
    public List<float> TokenLogprobs { get; } = [];

    /// <summary>Most likely alternatives at each position, token text to log-probability.</summary>
    public List<Dictionary<string, float>> TopLogprobs { get; } = [];

    /// <summary>Character offset of each token in the returned text.</summary>
    public List<int> TextOffset { get; } = [];
}

/// <summary>One choice of a completion (or completion chunk).</summary>
public sealed record CompletionChoiceDto(int Index, string Text, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] CompletionLogprobsDto? Logprobs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason);

/// <summary>Response of /v1/completions, and each streamed chunk of it.</summary>
public sealed record CompletionResponseDto(
    string Id,
    string Object,
    long Created,
    string Model,
    IReadOnlyList<CompletionChoiceDto> Choices,
    UsageDto? Usage);

/// <summary>An assistant message or a streamed delta of one.</summary>
public sealed record ChatMessageOutDto(string? Role, string? Content);

/// <summary>One choice of a chat completion.</summary>
public sealed record ChatChoiceDto(int Index, ChatMessageOutDto Message, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason);

/// <summary>One choice of a streamed chat chunk.</summary>
public sealed record ChatChunkChoiceDto(int Index, ChatMessageOutDto Delta, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason);

/// <summary>Response of /v1/chat/completions.</summary>
public sealed record ChatCompletionResponseDto(
    string Id,
    string Object,
    long Created,
    string Model,
    IReadOnlyList<ChatChoiceDto> Choices,
    UsageDto Usage);

/// <summary>One streamed chunk of /v1/chat/completions.</summary>
public sealed record ChatCompletionChunkDto(
    string Id,
    string Object,
    long Created,
    string Model,
    IReadOnlyList<ChatChunkChoiceDto> Choices,
    UsageDto? Usage);

/// <summary>One entry of /v1/models; <paramref name="Routing"/> (a MoeServe extension) says which q is served.</summary>
public sealed record ModelDto(string Id, string Object, long Created, string OwnedBy, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ModelRoutingDto? Routing = null);

/// <summary>The routing a model is served with: policy, where its q came from, and lambda (q is served as lambda x q).</summary>
public sealed record ModelRoutingDto(string Policy, string QSource, double QScale);

/// <summary>Response of /v1/models.</summary>
public sealed record ModelListDto(string Object, IReadOnlyList<ModelDto> Data);

/// <summary>The body of an error: {"error": {...}}.</summary>
public sealed record ErrorBodyDto(ErrorDto Error);

/// <summary>OpenAI's error object.</summary>
public sealed record ErrorDto(
    string Message,
    string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Param,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Code);
