namespace MoeServe.Model.Reference;

/// <summary>What one layer's dense part computes for T new tokens of one sequence (row-major arrays).</summary>
/// <param name="Residual">x after the attention residual, [T, d].</param>
/// <param name="FfnInput">RMSNorm(residual), [T, d].</param>
/// <param name="RouterLogits">Router logits, [T, m].</param>
/// <param name="PresentKey">Keys including the new tokens, [H, P+T, hd].</param>
/// <param name="PresentValue">Values including the new tokens, [H, P+T, hd].</param>
public sealed record DenseLayerOutput(float[] Residual, float[] FfnInput, float[] RouterLogits, float[] PresentKey, float[] PresentValue);
