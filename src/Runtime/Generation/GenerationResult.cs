namespace MoeServe.Runtime.Generation;

/// <summary>Why generation ended (OpenAI's finish_reason).</summary>
public enum FinishReason
{
    /// <summary>A stop sequence or the end-of-text token ("stop").</summary>
    Stop,

    /// <summary>max_tokens or the context length was reached ("length").</summary>
    Length,
}

/// <summary>The outcome of <see cref="TextGenerator.Generate"/>.</summary>
/// <param name="Text">The generated text (without the prompt and without the stop sequence).</param>
/// <param name="PromptTokens">Tokens in the prompt.</param>
/// <param name="CompletionTokens">Tokens generated.</param>
/// <param name="FinishReason">Why it ended.</param>
/// <param name="PrefillTime">Time of the prompt's forward pass and the first token's sampling.</param>
/// <param name="DecodeTime">Time of the remaining steps.</param>
public sealed record GenerationResult(string Text, int PromptTokens, int CompletionTokens, FinishReason FinishReason, TimeSpan PrefillTime, TimeSpan DecodeTime)
{
    /// <summary>When the first token was sampled, as a timestamp of the generator's <see cref="TimeProvider"/> (for a time to first token from an earlier moment, such as process start).</summary>
    public long FirstTokenTimestamp { get; init; }

    /// <summary>Generated tokens per second of decode time (after the first token).</summary>
    public double DecodeTokensPerSecond => CompletionTokens > 1 && DecodeTime > TimeSpan.Zero ? (CompletionTokens - 1) / DecodeTime.TotalSeconds : 0;
}
