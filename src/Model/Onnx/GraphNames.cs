namespace MoeServe.Model;

/// <summary>File names of the exported graphs and the names of their inputs and outputs (docs/contracts.md).</summary>
public static class GraphNames
{
    /// <summary>Embedding graph file.</summary>
    public const string EmbedFile = "embed.onnx";

    /// <summary>Final norm and output head graph file.</summary>
    public const string HeadFile = "head.onnx";

    /// <summary>Input of embed.onnx: token ids, int64 [N].</summary>
    public const string InputIds = "input_ids";

    /// <summary>Output of embed.onnx and input of the qkv, post and head graphs: float [N, d].</summary>
    public const string Hidden = "hidden";

    /// <summary>qkv graph input: int64 [N] positions, counting from 0 at the sequence's first token.</summary>
    public const string Positions = "positions";

    /// <summary>qkv graph output: float [N, H, hd] queries, RoPE applied.</summary>
    public const string Query = "query";

    /// <summary>qkv graph output: float [N, H, hd] keys, RoPE applied (the runtime appends them to the KV cache).</summary>
    public const string Key = "key";

    /// <summary>qkv graph output: float [N, H, hd] values.</summary>
    public const string Value = "value";

    /// <summary>post graph input: float [N, d], the attention output with heads concatenated (before Wo).</summary>
    public const string Attention = "attention";

    /// <summary>post graph output: float [N, d], x after the attention residual.</summary>
    public const string Residual = "residual";

    /// <summary>post graph output: float [N, d], RMSNorm(residual) fed to the router and the experts.</summary>
    public const string FfnInput = "ffn_input";

    /// <summary>post graph output: float [N, m] router logits.</summary>
    public const string RouterLogits = "router_logits";

    /// <summary>Expert graph input: float [N, d].</summary>
    public const string ExpertInput = "x";

    /// <summary>Expert graph output: float [N, d].</summary>
    public const string ExpertOutput = "y";

    /// <summary>Head graph output: float [N, V].</summary>
    public const string Logits = "logits";

    /// <summary>Layer <paramref name="layer"/>'s graph before attention: norm, Q/K/V projections and RoPE over all tokens of a step.</summary>
    /// <param name="layer">Layer index.</param>
    public static string QkvFile(int layer) => $"layer{layer}.qkv.onnx";

    /// <summary>Layer <paramref name="layer"/>'s graph after attention: Wo, residual, ffn norm and router logits over all tokens of a step.</summary>
    /// <param name="layer">Layer index.</param>
    public static string PostFile(int layer) => $"layer{layer}.post.onnx";

    /// <summary>Routed expert graph file.</summary>
    /// <param name="layer">Layer index.</param>
    /// <param name="expert">Expert index.</param>
    public static string ExpertFile(int layer, int expert) => $"layer{layer}.expert{expert}.onnx";

    /// <summary>Shared expert graph file.</summary>
    /// <param name="layer">Layer index.</param>
    public static string SharedFile(int layer) => $"layer{layer}.shared.onnx";
}
