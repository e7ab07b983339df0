namespace MoeServe.Model;

/// <summary>Where queries and keys are RMS-normalised before RoPE (JSON "none" | "perHead" | "full").</summary>
public enum QkNormKind
{
    /// <summary>No query/key norm (Mixtral, Qwen2-MoE, MoeServe's own models).</summary>
    None = 0,

    /// <summary>Per head over hd, one weight [hd] shared by the heads (Qwen3-MoE's q_norm/k_norm).</summary>
    PerHead = 1,

    /// <summary>Over the whole projection before it is split into heads: weights [H x hd] and [kvHeads x hd] (OLMoE).</summary>
    Full = 2,
}
