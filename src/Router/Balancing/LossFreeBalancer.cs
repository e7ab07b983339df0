namespace MoeServe.Router;

/// <summary>
/// Loss-free balancing (Wang et al., arXiv 2408.15664): route by TopK(s + b) with gates from s, then
/// b[j] += u * sign(mean load - load[j]). The bias is stored as q = -b so that one biased top-K
/// serves both methods; this class therefore updates q[j] -= u * sign(mean load - load[j]).
/// </summary>
/// <remarks>NOT thread-safe: it mutates q and its load scratch. One instance per layer per thread.</remarks>
public sealed class LossFreeBalancer : IRoutingPolicy
{
    private readonly float[] _q;
    private readonly LossFreeOptions _options;
    private readonly GateSettings _settings;
    private readonly int[] _loads;

    /// <summary>Creates a balancer that reads and updates <paramref name="q"/> (= -b) in place.</summary>
    /// <param name="q">The layer's state q = -b, length m.</param>
    /// <param name="options">Loss-free options; null for the defaults.</param>
    /// <param name="renormalize">Divide the k gates of a token by their sum.</param>
    /// <param name="capacityFactor">Optional hard capacity factor (&gt;= 1); null for none.</param>
    public LossFreeBalancer(float[] q, LossFreeOptions? options = null, bool renormalize = true, double? capacityFactor = null)
    {
        RoutingGuards.ThrowIfNullOrNoExperts(q);
        _options = options ?? new LossFreeOptions();
        RouterOptionsException.ThrowIfAny(_options.Validate());

        _q = q;
        _loads = new int[q.Length];
        _settings = GateSettings.Create(renormalize, capacityFactor);
    }

    /// <inheritdoc />
    public string Name => "lossfree";

    /// <inheritdoc />
    public bool IsThreadSafe => false;

    /// <summary>The live state q = -b (updated after every batch).</summary>
    public ReadOnlySpan<float> Q => _q;

    /// <inheritdoc />
    public void Route(ReadOnlySpan<float> scores, RoutingShape shape, Span<int> experts, Span<float> gates)
    {
        RowRouter.RouteChecked(scores, _q, shape, _settings, experts, gates);
        Update(experts, shape);
    }

    /// <summary>Applies the bias update for a batch that was routed elsewhere.</summary>
    /// <param name="experts">The batch's chosen experts, token-major [tokens * k].</param>
    /// <param name="shape">n, m, k of the batch.</param>
    public void Update(ReadOnlySpan<int> experts, RoutingShape shape)
    {
        RoutingGuards.ThrowIfStateMismatch(_q.Length, shape);
        if (shape.Tokens == 0)
        {
            return;
        }

        LoadStatistics.CountLoads(experts, _loads);
        double mean = shape.MeanLoad;
        float u = _options.UpdateRate;
        for (int j = 0; j < _q.Length; j++)
        {
            // b += u * sign(mean - load)  <=>  q -= u * sign(mean - load)
            _q[j] -= u * Math.Sign(mean - _loads[j]);
        }
    }
}
