namespace MoeServe.Runtime;

/// <summary>How the runtime chooses each token's experts.</summary>
public enum RoutingPolicyKind
{
    /// <summary>TopK(s - q) with the trained, frozen q of each layer from the manifest (deterministic per token). The default.</summary>
    Trained,

    /// <summary>BIP iterations on every forward step, warm-started from the trained q: balances each serving batch further, but a token's experts then depend on its batch-mates.</summary>
    OnlineBip,

    /// <summary>Plain TopK(s), ignoring q: the unbalanced baseline.</summary>
    TopK,
}
