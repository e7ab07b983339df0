using System.Diagnostics;

using MoeServe.Router;

using static TorchSharp.torch;

namespace MoeServe.Training.Routing;

/// <summary>
/// One forward pass's view of routing: which policy each layer uses, and what the pass observed
/// (per-layer expert loads, the auxiliary loss terms, the time spent inside the router calls).
/// Created per forward pass and disposed after it (it owns the auxiliary loss tensors).
/// </summary>
public sealed class RoutingPass : IDisposable
{
    private readonly Func<int, IRoutingPolicy> _policyForLayer;
    private readonly long[][] _loads;
    private readonly int[][] _experts;
    private readonly List<Tensor> _auxTerms = [];
    private long _balancingTicks;

    /// <summary>Creates a pass.</summary>
    /// <param name="layers">Number of MoE layers.</param>
    /// <param name="experts">Experts per layer (m).</param>
    /// <param name="policyForLayer">The routing policy each layer uses in this pass.</param>
    /// <param name="auxAlpha">Weight of the sequence-level auxiliary loss; 0 for none.</param>
    public RoutingPass(int layers, int experts, Func<int, IRoutingPolicy> policyForLayer, double auxAlpha)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(experts);
        ArgumentOutOfRangeException.ThrowIfNegative(auxAlpha);
        _policyForLayer = policyForLayer ?? throw new ArgumentNullException(nameof(policyForLayer));
        AuxAlpha = auxAlpha;
        _loads = new long[layers][];
        _experts = new int[layers][];
        for (int l = 0; l < layers; l++)
        {
            _loads[l] = new long[experts];
            _experts[l] = [];
        }
    }

    /// <summary>Weight of the auxiliary loss (0 = not computed).</summary>
    public double AuxAlpha { get; }

    /// <summary>Expert loads (tokens routed to each expert) per layer, from this pass.</summary>
    public IReadOnlyList<long[]> Loads => _loads;

    /// <summary>Wall time spent inside the router policies' Route calls.</summary>
    public TimeSpan BalancingTime => Stopwatch.GetElapsedTime(0, _balancingTicks);

    /// <summary>The chosen experts of a layer, token-major [tokens * k] (for inspection and tests).</summary>
    /// <param name="layer">The layer.</param>
    public ReadOnlySpan<int> ChosenExperts(int layer) => _experts[layer];

    /// <summary>The sum of the auxiliary loss terms of all layers (a scalar), or null when none.</summary>
    public Tensor? AuxiliaryLoss()
    {
        if (_auxTerms.Count == 0)
        {
            return null;
        }

        var total = _auxTerms[0].alias();
        for (int i = 1; i < _auxTerms.Count; i++)
        {
            total = total + _auxTerms[i];
        }

        return total;
    }

    /// <summary>MaxVio_batch of a layer: (max load - mean load) / mean load.</summary>
    /// <param name="layer">The layer.</param>
    public double MaxVio(int layer) => LoadStatistics.MaxViolation(_loads[layer]);

    internal IRoutingPolicy PolicyFor(int layer) => _policyForLayer(layer);

    internal void Route(int layer, IRoutingPolicy policy, ReadOnlySpan<float> scores, RoutingShape shape, Span<int> experts, Span<float> gates)
    {
        long start = Stopwatch.GetTimestamp();
        policy.Route(scores, shape, experts, gates);
        _balancingTicks += Stopwatch.GetTimestamp() - start;
        var loads = _loads[layer];
        Array.Clear(loads);
        foreach (int e in experts)
        {
            loads[e]++;
        }

        _experts[layer] = experts.ToArray();
    }

    internal void AddAuxiliaryTerm(Tensor term) => _auxTerms.Add(term);

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in _auxTerms)
        {
            t.Dispose();
        }

        _auxTerms.Clear();
    }
}
