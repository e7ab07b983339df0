namespace MoeServe.Model.Reference;

/// <summary>What a layer computes before attention for T tokens (row-major, heads concatenated per token).</summary>
/// <param name="Query">Queries with RoPE applied, [T, H, hd].</param>
/// <param name="Key">Keys with RoPE applied, [T, H, hd].</param>
/// <param name="Value">Values, [T, H, hd].</param>
public sealed record QkvOutput(float[] Query, float[] Key, float[] Value);
