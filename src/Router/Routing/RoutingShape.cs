namespace MoeServe.Router;

/// <summary>The size of one routing problem: n tokens, m experts, k experts per token.</summary>
/// <param name="Tokens">n, tokens in the batch (rows of the score matrix).</param>
/// <param name="Experts">m, experts in the layer (columns of the score matrix).</param>
/// <param name="TopK">k, experts chosen per token (1 &lt;= k &lt;= m).</param>
public readonly record struct RoutingShape(int Tokens, int Experts, int TopK)
{
    /// <summary>Length of the score matrix, n * m.</summary>
    public int ScoreLength => Tokens * Experts;

    /// <summary>Length of the expert and gate outputs, n * k (token-major).</summary>
    public int AssignmentLength => Tokens * TopK;

    /// <summary>The mean load per expert, n * k / m (the fair share).</summary>
    public double MeanLoad => (double)Tokens * TopK / Experts;

    /// <summary>The BIP expert capacity c = ceil(n * k / m).</summary>
    public int BalancedCapacity => CapacityFor(1.0);

    /// <summary>Hard capacity ceil(factor * n * k / m), never below 1.</summary>
    /// <param name="factor">Capacity factor, at least 1.</param>
    public int CapacityFor(double factor)
    {
        // A tiny tolerance so that 1.0 * 512 does not round up to 513 through float noise.
        double raw = factor * Tokens * TopK / Experts;
        return Math.Max(1, (int)Math.Ceiling(raw - 1e-9));
    }

    /// <summary>Throws <see cref="ArgumentException"/> when the shape or buffer lengths are inconsistent.</summary>
    /// <param name="scoreLength">Length of the score span.</param>
    /// <param name="expertsLength">Length of the expert-index output span.</param>
    /// <param name="gatesLength">Length of the gate output span.</param>
    public void Validate(int scoreLength, int expertsLength, int gatesLength)
    {
        if (Tokens < 0 || Experts < 1 || TopK < 1 || TopK > Experts)
        {
            throw new ArgumentException($"Invalid routing shape {this}: need tokens >= 0, experts >= 1 and 1 <= topK <= experts.");
        }

        if (scoreLength != ScoreLength)
        {
            throw new ArgumentException($"scores length {scoreLength} != tokens * experts = {ScoreLength}.", "scores");
        }

        if (expertsLength != AssignmentLength)
        {
            throw new ArgumentException($"experts length {expertsLength} != tokens * topK = {AssignmentLength}.", "experts");
        }

        if (gatesLength != AssignmentLength)
        {
            throw new ArgumentException($"gates length {gatesLength} != tokens * topK = {AssignmentLength}.", "gates");
        }
    }
}
