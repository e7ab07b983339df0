namespace MoeServe.Router;

/// <summary>Plain top-K routing by the score s. Stateless and thread-safe.</summary>
public sealed class TopKPolicy : IRoutingPolicy
{
    private readonly GateSettings _settings;

    /// <summary>Creates the policy.</summary>
    /// <param name="renormalize">Divide the k gates of a token by their sum.</param>
    /// <param name="capacityFactor">Optional hard capacity factor (&gt;= 1); null for none.</param>
    public TopKPolicy(bool renormalize = true, double? capacityFactor = null)
    {
        _settings = GateSettings.Create(renormalize, capacityFactor);
    }

    /// <inheritdoc />
    public string Name => "topk";

    /// <inheritdoc />
    public bool IsThreadSafe => true;

    /// <inheritdoc />
    public void Route(ReadOnlySpan<float> scores, RoutingShape shape, Span<int> experts, Span<float> gates)
    {
        shape.Validate(scores.Length, experts.Length, gates.Length);
        RowRouter.Route(scores, ReadOnlySpan<float>.Empty, shape, _settings, experts, gates);
    }
}
