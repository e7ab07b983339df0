namespace MoeServe.Runtime.Generation;

/// <summary>A generated token's own text and log-probability, with the most likely alternatives (a response's logprobs).</summary>
/// <param name="Text">The token decoded on its own (may be a partial character).</param>
/// <param name="Logprob">Its log-probability.</param>
/// <param name="Top">The most likely alternatives, best first (empty unless top logprobs were asked for).</param>
public sealed record TokenLogprobText(string Text, float Logprob, IReadOnlyList<(string Text, float Logprob)> Top);

/// <summary>What one sampled token added to a sequence's output (<see cref="TokenOutput.Append"/>).</summary>
/// <param name="Text">Text now safe to show; empty while a partial character or a possible stop prefix is held back.</param>
/// <param name="Counted">Whether the token is part of the completion (the end-of-text token is not).</param>
/// <param name="Logprobs">The token's text and log-probabilities when they were asked for and the token is counted, else null.</param>
/// <param name="Finish">Set when this token ended the sequence; <see cref="TokenOutput.Flush"/> gives the last text and may still turn Length into Stop.</param>
public readonly record struct TokenStep(string Text, bool Counted, TokenLogprobText? Logprobs, FinishReason? Finish);
