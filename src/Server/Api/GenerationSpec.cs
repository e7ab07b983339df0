namespace MoeServe.Server.Api;

/// <summary>Which endpoint a request came through.</summary>
public enum EndpointKind
{
    /// <summary>POST /v1/completions.</summary>
    Completion,

    /// <summary>POST /v1/chat/completions.</summary>
    Chat,
}

/// <summary>One chat message after validation.</summary>
/// <param name="Role">system, user or assistant.</param>
/// <param name="Text">The message text.</param>
public sealed record ChatTurn(string Role, string Text);

/// <summary>
/// A generation request after shape validation: every field present and in range. Checks that need
/// the model (prompt length against the context, token ids against the vocabulary) come later.
/// </summary>
public sealed record GenerationSpec
{
    /// <summary>The endpoint.</summary>
    public required EndpointKind Kind { get; init; }

    /// <summary>Model id the client asked for, or null.</summary>
    public string? Model { get; init; }

    /// <summary>Prompt text (completions).</summary>
    public string? PromptText { get; init; }

    /// <summary>Prompt as token ids (completions with an integer-array prompt).</summary>
    public IReadOnlyList<int>? PromptTokens { get; init; }

    /// <summary>Conversation (chat).</summary>
    public IReadOnlyList<ChatTurn>? Messages { get; init; }

    /// <summary>Most tokens to generate; null means the server default (completions) or the rest of the context (chat).</summary>
    public int? MaxTokens { get; init; }

    /// <summary>The request field <see cref="MaxTokens"/> came from ("max_tokens" or "max_completion_tokens"), for error messages.</summary>
    public string MaxTokensParam { get; init; } = "max_tokens";

    /// <summary>Temperature, or null for the default.</summary>
    public double? Temperature { get; init; }

    /// <summary>top_p, or null for the default.</summary>
    public double? TopP { get; init; }

    /// <summary>top_k, or null for the default.</summary>
    public int? TopK { get; init; }

    /// <summary>Sampling seed, or null for a fresh one.</summary>
    public long? Seed { get; init; }

    /// <summary>Stop strings (0 to 4, none empty).</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Whether end-of-sequence ids are ignored (generation runs to max_tokens, the context or a stop string).</summary>
    public bool IgnoreEos { get; init; }

    /// <summary>Stream as server-sent events.</summary>
    public bool Stream { get; init; }

    /// <summary>Send a usage chunk at the end of a stream.</summary>
    public bool IncludeUsage { get; init; }

    /// <summary>Alternatives per token to report with log-probabilities; null for none.</summary>
    public int? Logprobs { get; init; }

    /// <summary>Prefix the completion with the prompt.</summary>
    public bool Echo { get; init; }
}
