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

    /// <summary>Output of embed.onnx and input of the dense and head graphs: float [N, d] or [T, d].</summary>
    public const string Hidden = "hidden";

    /// <summary>Dense graph input: int64 [T] positions, counting from 0 at the sequence's first token.</summary>
    public const string Positions = "positions";

    /// <summary>Dense graph input: float [T, P+T], 0 where attention is allowed and -inf where masked.</summary>
    public const string AttentionBias = "attention_bias";

    /// <summary>Dense graph input: float [H, P, hd] cached keys (P may be 0).</summary>
    public const string PastKey = "past_key";

    /// <summary>Dense graph input: float [H, P, hd] cached values.</summary>
    public const string PastValue = "past_value";

    /// <summary>Dense graph output: float [T, d], x after the attention residual.</summary>
    public const string Residual = "residual";

    /// <summary>Dense graph output: float [T, d], RMSNorm(residual) fed to the router and the experts.</summary>
    public const string FfnInput = "ffn_input";

    /// <summary>Dense graph output: float [T, m] router logits.</summary>
    public const string RouterLogits = "router_logits";

    /// <summary>Dense graph output: float [H, P+T, hd] keys including this step.</summary>
    public const string PresentKey = "present_key";

    /// <summary>Dense graph output: float [H, P+T, hd] values including this step.</summary>
    public const string PresentValue = "present_value";

    /// <summary>Expert graph input: float [N, d].</summary>
    public const string ExpertInput = "x";

    /// <summary>Expert graph output: float [N, d].</summary>
    public const string ExpertOutput = "y";

    /// <summary>Head graph output: float [N, V].</summary>
    public const string Logits = "logits";

    /// <summary>Dense graph file of layer <paramref name="layer"/>.</summary>
    /// <param name="layer">Layer index.</param>
    public static string DenseFile(int layer) => $"layer{layer}.dense.onnx";

    /// <summary>Routed expert graph file.</summary>
    /// <param name="layer">Layer index.</param>
    /// <param name="expert">Expert index.</param>
    public static string ExpertFile(int layer, int expert) => $"layer{layer}.expert{expert}.onnx";

    /// <summary>Shared expert graph file.</summary>
    /// <param name="layer">Layer index.</param>
    public static string SharedFile(int layer) => $"layer{layer}.shared.onnx";
}
