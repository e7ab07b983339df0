namespace MoeServe.Model;

/// <summary>
/// Names and shapes of the tensors in model.safetensors, as PyTorch Linear stores them ([out, in]).
/// The single source of these strings for training, export and the reference forward pass.
/// </summary>
public static class CheckpointTensorNames
{
    /// <summary>Token embedding [V, d], tied with the output head.</summary>
    public const string TokenEmbeddings = "tok_embeddings.weight";

    /// <summary>Final RMSNorm weight [d].</summary>
    public const string FinalNorm = "norm.weight";

    /// <summary>Untied output head [V, d] (only when config.untiedHead).</summary>
    public const string OutputHead = "output.weight";

    /// <summary>Query bias [H x hd] (only when config.qkvBias).</summary>
    /// <param name="layer">Layer index.</param>
    public static string QBias(int layer) => $"layers.{layer}.attention.wq.bias";

    /// <summary>Key bias [kvHeads x hd] (only when config.qkvBias).</summary>
    /// <param name="layer">Layer index.</param>
    public static string KBias(int layer) => $"layers.{layer}.attention.wk.bias";

    /// <summary>Value bias [kvHeads x hd] (only when config.qkvBias).</summary>
    /// <param name="layer">Layer index.</param>
    public static string VBias(int layer) => $"layers.{layer}.attention.wv.bias";

    /// <summary>Query RMSNorm weight: [hd] (qkNorm perHead) or [H x hd] (full).</summary>
    /// <param name="layer">Layer index.</param>
    public static string QNorm(int layer) => $"layers.{layer}.attention.q_norm.weight";

    /// <summary>Key RMSNorm weight: [hd] (qkNorm perHead) or [kvHeads x hd] (full).</summary>
    /// <param name="layer">Layer index.</param>
    public static string KNorm(int layer) => $"layers.{layer}.attention.k_norm.weight";

    /// <summary>Shared expert gate [1, d] (only when config.sharedExpertGate): the shared output is scaled by sigmoid(x Wsg^T).</summary>
    /// <param name="layer">Layer index.</param>
    public static string SharedGate(int layer) => $"layers.{layer}.moe.shared_expert_gate.weight";

    /// <summary>Attention RMSNorm weight [d] of layer <paramref name="layer"/>.</summary>
    /// <param name="layer">Layer index.</param>
    public static string AttentionNorm(int layer) => $"layers.{layer}.attention_norm.weight";

    /// <summary>Query projection [d, d].</summary>
    /// <param name="layer">Layer index.</param>
    public static string Wq(int layer) => $"layers.{layer}.attention.wq.weight";

    /// <summary>Key projection [d, d].</summary>
    /// <param name="layer">Layer index.</param>
    public static string Wk(int layer) => $"layers.{layer}.attention.wk.weight";

    /// <summary>Value projection [d, d].</summary>
    /// <param name="layer">Layer index.</param>
    public static string Wv(int layer) => $"layers.{layer}.attention.wv.weight";

    /// <summary>Attention output projection [d, d].</summary>
    /// <param name="layer">Layer index.</param>
    public static string Wo(int layer) => $"layers.{layer}.attention.wo.weight";

    /// <summary>FFN RMSNorm weight [d].</summary>
    /// <param name="layer">Layer index.</param>
    public static string FfnNorm(int layer) => $"layers.{layer}.ffn_norm.weight";

    /// <summary>Router weight [m, d].</summary>
    /// <param name="layer">Layer index.</param>
    public static string Gate(int layer) => $"layers.{layer}.moe.gate.weight";

    /// <summary>Routed expert gate projection W1 [h, d].</summary>
    /// <param name="layer">Layer index.</param>
    /// <param name="expert">Expert index.</param>
    public static string ExpertW1(int layer, int expert) => $"layers.{layer}.moe.experts.{expert}.w1.weight";

    /// <summary>Routed expert down projection W2 [d, h].</summary>
    /// <param name="layer">Layer index.</param>
    /// <param name="expert">Expert index.</param>
    public static string ExpertW2(int layer, int expert) => $"layers.{layer}.moe.experts.{expert}.w2.weight";

    /// <summary>Routed expert up projection W3 [h, d].</summary>
    /// <param name="layer">Layer index.</param>
    /// <param name="expert">Expert index.</param>
    public static string ExpertW3(int layer, int expert) => $"layers.{layer}.moe.experts.{expert}.w3.weight";

    /// <summary>Shared expert W1 [hs, d].</summary>
    /// <param name="layer">Layer index.</param>
    public static string SharedW1(int layer) => $"layers.{layer}.moe.shared_expert.w1.weight";

    /// <summary>Shared expert W2 [d, hs].</summary>
    /// <param name="layer">Layer index.</param>
    public static string SharedW2(int layer) => $"layers.{layer}.moe.shared_expert.w2.weight";

    /// <summary>Shared expert W3 [hs, d].</summary>
    /// <param name="layer">Layer index.</param>
    public static string SharedW3(int layer) => $"layers.{layer}.moe.shared_expert.w3.weight";

    /// <summary>Every tensor a checkpoint of <paramref name="config"/> holds, with its shape, in a stable order.</summary>
    /// <param name="config">The model configuration.</param>
    public static IEnumerable<(string Name, int[] Shape)> Expected(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        int d = config.DModel;
        int h = config.ExpertHidden;
        int hs = config.SharedExpertHidden;
        int qw = config.QueryWidth;
        int kvw = config.KeyValueWidth;
        yield return (TokenEmbeddings, [config.VocabSize, d]);
        for (int l = 0; l < config.Layers; l++)
        {
            yield return (AttentionNorm(l), [d]);
            yield return (Wq(l), [qw, d]);
            yield return (Wk(l), [kvw, d]);
            yield return (Wv(l), [kvw, d]);
            if (config.QkvBias)
            {
                yield return (QBias(l), [qw]);
                yield return (KBias(l), [kvw]);
                yield return (VBias(l), [kvw]);
            }

            if (config.QkNorm == QkNormKind.PerHead)
            {
                yield return (QNorm(l), [config.HeadDim]);
                yield return (KNorm(l), [config.HeadDim]);
            }
            else if (config.QkNorm == QkNormKind.Full)
            {
                yield return (QNorm(l), [qw]);
                yield return (KNorm(l), [kvw]);
            }

            yield return (Wo(l), [d, qw]);
            yield return (FfnNorm(l), [d]);
            yield return (Gate(l), [config.Experts, d]);
            for (int j = 0; j < config.Experts; j++)
            {
                yield return (ExpertW1(l, j), [h, d]);
                yield return (ExpertW2(l, j), [d, h]);
                yield return (ExpertW3(l, j), [h, d]);
            }

            if (config.HasSharedExpert)
            {
                yield return (SharedW1(l), [hs, d]);
                yield return (SharedW2(l), [d, hs]);
                yield return (SharedW3(l), [hs, d]);
                if (config.SharedExpertGate)
                {
                    yield return (SharedGate(l), [1, d]);
                }
            }
        }

        yield return (FinalNorm, [d]);
        if (config.UntiedHead)
        {
            yield return (OutputHead, [config.VocabSize, d]);
        }
    }

    /// <summary>Every missing tensor and shape mismatch of <paramref name="weights"/> against <paramref name="config"/>.</summary>
    /// <param name="config">The model configuration.</param>
    /// <param name="weights">The loaded weights.</param>
    public static IReadOnlyList<string> Check(ModelConfig config, ITensorSource weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var errors = new List<string>();
        foreach (var (name, shape) in Expected(config))
        {
            int[]? actual = weights.ShapeOf(name);
            if (actual is null)
            {
                errors.Add($"{weights.Source}: missing tensor '{weights.DescribeName(name)}' [{string.Join(", ", shape)}]");
            }
            else if (!actual.AsSpan().SequenceEqual(shape))
            {
                errors.Add($"{weights.Source}: tensor '{weights.DescribeName(name)}' has shape [{string.Join(", ", actual)}], expected [{string.Join(", ", shape)}]");
            }
        }

        return errors;
    }
}
