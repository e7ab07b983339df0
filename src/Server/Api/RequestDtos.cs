using System.Text.Json;
using System.Text.Json.Serialization;

namespace MoeServe.Server.Api;

/// <summary>A request object (a body or a part of one) that keeps the fields the server does not know.</summary>
public abstract class ExtensibleDto
{
    /// <summary>Fields the server does not know; a parser refuses the ones that would change the result.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>A request body that may name the model.</summary>
public abstract class ModelRequestDto : ExtensibleDto
{
    /// <summary>Model id; must name the served model (or be omitted).</summary>
    public string? Model { get; set; }
}

/// <summary>stream_options of a request.</summary>
public sealed class StreamOptionsDto : ExtensibleDto
{
    /// <summary>Send a last chunk with empty choices carrying usage.</summary>
    public bool? IncludeUsage { get; set; }
}

/// <summary>Fields shared by /v1/completions and /v1/chat/completions.</summary>
public abstract class GenerationRequestDto : ModelRequestDto
{
    /// <summary>Most tokens to generate.</summary>
    public int? MaxTokens { get; set; }

    /// <summary>Sampling temperature in [0, 2]; 0 is greedy.</summary>
    public double? Temperature { get; set; }

    /// <summary>Nucleus sampling mass in (0, 1].</summary>
    public double? TopP { get; set; }

    /// <summary>Keep only the k most likely tokens (0 = off). Not in OpenAI's API; vLLM and TGI accept it.</summary>
    public int? TopK { get; set; }

    /// <summary>Seed for reproducible sampling.</summary>
    public long? Seed { get; set; }

    /// <summary>A string or an array of up to 4 strings that end generation.</summary>
    public JsonElement? Stop { get; set; }

    /// <summary>Stream server-sent events.</summary>
    public bool? Stream { get; set; }

    /// <summary>Streaming options.</summary>
    public StreamOptionsDto? StreamOptions { get; set; }

    /// <summary>When true, end-of-sequence ids do not end generation (vLLM's and llama.cpp's ignore_eos; not in OpenAI's API).</summary>
    public bool? IgnoreEos { get; set; }

    /// <summary>Number of choices; only 1 is supported.</summary>
    public int? N { get; set; }

    /// <summary>Accepted and ignored (OpenAI's end-user id).</summary>
    public string? User { get; set; }
}

/// <summary>Body of POST /v1/completions.</summary>
public sealed class CompletionRequestDto : GenerationRequestDto
{
    /// <summary>A string, a one-element array of strings, or an array of token ids.</summary>
    public JsonElement? Prompt { get; set; }

    /// <summary>Return the log-probabilities of the chosen token and this many alternatives (0 to 5).</summary>
    public int? Logprobs { get; set; }

    /// <summary>Put the prompt in front of the completion text.</summary>
    public bool? Echo { get; set; }
}

/// <summary>One chat message.</summary>
public sealed class ChatMessageDto : ExtensibleDto
{
    /// <summary>system, user, assistant (or developer, treated as system).</summary>
    public string? Role { get; set; }

    /// <summary>A string or an array of {"type":"text","text":...} parts.</summary>
    public JsonElement? Content { get; set; }

    /// <summary>Optional participant name (ignored).</summary>
    public string? Name { get; set; }
}

/// <summary>Body of POST /v1/chat/completions.</summary>
public sealed class ChatCompletionRequestDto : GenerationRequestDto
{
    /// <summary>The conversation so far.</summary>
    public List<ChatMessageDto?>? Messages { get; set; }

    /// <summary>Newer name of max_tokens; wins when both are set.</summary>
    public int? MaxCompletionTokens { get; set; }

    /// <summary>Return log-probabilities (not supported on chat: refused when true).</summary>
    public bool? Logprobs { get; set; }

    /// <summary>Alternatives per token with logprobs (not supported on chat).</summary>
    public int? TopLogprobs { get; set; }
}
