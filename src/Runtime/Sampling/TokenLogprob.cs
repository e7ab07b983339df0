namespace MoeServe.Runtime.Sampling;

/// <summary>A token and its log-probability under the model (log-softmax of the raw logits, before temperature, top-k or top-p).</summary>
/// <param name="TokenId">Token id.</param>
/// <param name="Logprob">Natural-log probability.</param>
public readonly record struct TokenLogprob(int TokenId, float Logprob);
