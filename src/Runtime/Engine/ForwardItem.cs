using MoeServe.Runtime.Caching;

namespace MoeServe.Runtime;

/// <summary>
/// One sequence's part of a forward step: the tokens to append to its KV cache (a prefill chunk, or
/// one decode token). The engine writes the logits of the LAST of these tokens.
/// </summary>
/// <param name="Cache">The sequence's cache (from <see cref="MoeEngine.CreateCache"/>); grows by Tokens.Length.</param>
/// <param name="Tokens">Token ids to append; at least one.</param>
public readonly record struct ForwardItem(KvCache Cache, ReadOnlyMemory<int> Tokens);
