namespace MoeServe.Router;

/// <summary>
/// Chooses k experts per token from a batch of router scores and computes their gate weights.
/// </summary>
/// <remarks>
/// Layouts: <c>scores</c> row-major [tokens, experts]; <c>experts</c> and <c>gates</c> token-major
/// [tokens * k], the k experts of a token distinct and ordered best first by the policy's selection
/// key (s - q). Gates always come from the unbiased score s, renormalised over the chosen k when
/// the policy was built with renormalisation. Stateless policies are thread-safe; stateful ones
/// (balancers) say so through <see cref="IsThreadSafe"/> and must be used by one thread at a time.
/// </remarks>
public interface IRoutingPolicy
{
    /// <summary>A short stable name ("topk", "biased-topk", "bip", "lossfree").</summary>
    string Name { get; }

    /// <summary>True when <see cref="Route"/> may be called concurrently from several threads.</summary>
    bool IsThreadSafe { get; }

    /// <summary>Routes one batch.</summary>
    /// <param name="scores">Router scores s, row-major [tokens, experts].</param>
    /// <param name="shape">n, m, k of this batch.</param>
    /// <param name="experts">Output: chosen expert indices, token-major [tokens * k].</param>
    /// <param name="gates">Output: gate weights from s, token-major [tokens * k].</param>
    void Route(ReadOnlySpan<float> scores, RoutingShape shape, Span<int> experts, Span<float> gates);
}
