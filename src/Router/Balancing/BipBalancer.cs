namespace MoeServe.Router;

/// <summary>
/// The BIP balancer (Sun, arXiv 2502.15451): per batch, T iterations of
/// p[i] = (k+1)-th largest over j of (s[i,j] - q[j]) and q[j] = (c+1)-th largest over i of
/// (s[i,j] - p[i]) with c = ceil(n k / m), each optionally clipped at 0; tokens are routed by
/// TopK(s - q) with gates from s. q is the layer's state (warm-started across batches unless cold).
/// </summary>
/// <remarks>
/// NOT thread-safe: it mutates q (shared with the owning <see cref="BalancingState"/>) and owns
/// scratch buffers. Use one instance per layer per thread. Steady state allocates nothing per batch
/// (scratch grows only when a larger batch arrives).
/// </remarks>
public sealed class BipBalancer : IRoutingPolicy
{
    private readonly float[] _q;
    private readonly BipOptions _options;
    private readonly GateSettings _settings;
    private float[] _p = [];
    private readonly ColumnSelector _columns = new();

    /// <summary>Creates a balancer that reads and updates <paramref name="q"/> in place.</summary>
    /// <param name="q">The layer's state q, length m (typically <see cref="BalancingState.Layer"/>).</param>
    /// <param name="options">BIP options; null for the defaults.</param>
    /// <param name="renormalize">Divide the k gates of a token by their sum.</param>
    /// <param name="capacityFactor">Optional hard capacity factor (&gt;= 1); null for none.</param>
    public BipBalancer(float[] q, BipOptions? options = null, bool renormalize = true, double? capacityFactor = null)
    {
        RoutingGuards.ThrowIfNullOrNoExperts(q);
        _options = options ?? new BipOptions();
        RouterOptionsException.ThrowIfAny(_options.Validate());

        _q = q;
        _settings = GateSettings.Create(renormalize, capacityFactor);
    }

    /// <inheritdoc />
    public string Name => "bip";

    /// <inheritdoc />
    public bool IsThreadSafe => false;

    /// <summary>The live state q (updated by every <see cref="Route"/>).</summary>
    public ReadOnlySpan<float> Q => _q;

    /// <summary>
    /// Share of the last batch's tokens whose unclipped p (from the last token step) was negative: the
    /// diagnostic of the clip-both drift described in docs/balancing.md.
    /// </summary>
    public double LastNegativeTokenDualShare { get; private set; }

    /// <summary>The options this balancer runs with.</summary>
    public BipOptions Options => _options;

    /// <inheritdoc />
    public void Route(ReadOnlySpan<float> scores, RoutingShape shape, Span<int> experts, Span<float> gates)
    {
        shape.Validate(scores.Length, experts.Length, gates.Length);
        RoutingGuards.ThrowIfStateMismatch(_q.Length, shape);
        if (shape.Tokens == 0)
        {
            return;
        }

        if (shape.Tokens < _options.MinTokensPerUpdate)
        {
            RowRouter.Route(scores, _q, shape, _settings, experts, gates);
            return;
        }

        EnsureScratch(shape);
        if (!_options.WarmStart)
        {
            Array.Clear(_q);
        }

        Span<float> p = _p.AsSpan(0, shape.Tokens);
        if (_options.Order == BipOrder.UpdateThenRoute)
        {
            Iterate(scores, shape, firstTokenDualReady: false);
            RowRouter.Route(scores, _q, shape, _settings, experts, gates);
        }
        else if (_options.Statistic == OrderStatisticMode.Exact)
        {
            // Routing by TopK(s - q) already finds each token's (k+1)-th key: that is p of the first iteration.
            RowRouter.Route(scores, _q, shape, _settings, experts, gates, p);
            ClipTokens(p);
            Iterate(scores, shape, firstTokenDualReady: true);
        }
        else
        {
            RowRouter.Route(scores, _q, shape, _settings, experts, gates);
            Iterate(scores, shape, firstTokenDualReady: false);
        }
    }

    /// <summary>Runs the T dual iterations on a batch without routing it (updates q only).</summary>
    /// <param name="scores">Router scores, row-major [tokens, experts].</param>
    /// <param name="shape">n, m, k of the batch.</param>
    public void Update(ReadOnlySpan<float> scores, RoutingShape shape)
    {
        shape.Validate(scores.Length, shape.AssignmentLength, shape.AssignmentLength);
        RoutingGuards.ThrowIfStateMismatch(_q.Length, shape);
        if (shape.Tokens == 0)
        {
            return;
        }

        EnsureScratch(shape);
        Iterate(scores, shape, firstTokenDualReady: false);
    }

    private void Iterate(ReadOnlySpan<float> scores, RoutingShape shape, bool firstTokenDualReady)
    {
        Span<float> p = _p.AsSpan(0, shape.Tokens);
        for (int t = 0; t < _options.Iterations; t++)
        {
            if (t > 0 || !firstTokenDualReady)
            {
                ComputeTokenDuals(scores, shape, p);
            }

            ComputeExpertDuals(scores, shape, p, t);
        }
    }

    private void ComputeTokenDuals(ReadOnlySpan<float> scores, RoutingShape shape, Span<float> p)
    {
        int m = shape.Experts;
        int k = shape.TopK;
        if (k >= m)
        {
            // Every expert is taken: the token constraint never binds.
            p.Clear();
            return;
        }

        // Exact: the (k+1)-th largest. Quantile: the two order statistics around level 1 - k/m.
        double level = 1.0 - ((double)k / m);
        double h = level * (m - 1);
        int lo = (int)Math.Floor(h);
        float frac = (float)(h - lo);
        int rankLow = m - lo; // descending rank of the ascending index lo
        int r = _options.Statistic == OrderStatisticMode.Exact ? k + 1 : rankLow;

        float[]? rentedKeys = null;
        int[]? rentedIdx = null;
        Span<float> keys = r <= 256 ? stackalloc float[r] : (rentedKeys = System.Buffers.ArrayPool<float>.Shared.Rent(r)).AsSpan(0, r);
        Span<int> idx = r <= 256 ? stackalloc int[r] : (rentedIdx = System.Buffers.ArrayPool<int>.Shared.Rent(r)).AsSpan(0, r);
        try
        {
            for (int i = 0; i < shape.Tokens; i++)
            {
                TopKSelector.SelectRow(scores.Slice(i * m, m), _q, r, keys, idx);
                if (_options.Statistic == OrderStatisticMode.Exact)
                {
                    p[i] = keys[k];
                }
                else
                {
                    float low = keys[r - 1];
                    p[i] = frac == 0f || r < 2 ? low : low + (frac * (keys[r - 2] - low));
                }
            }
        }
        finally
        {
            if (rentedKeys is not null)
            {
                System.Buffers.ArrayPool<float>.Shared.Return(rentedKeys);
            }

            if (rentedIdx is not null)
            {
                System.Buffers.ArrayPool<int>.Shared.Return(rentedIdx);
            }
        }

        ClipTokens(p);
    }

    private void ComputeExpertDuals(ReadOnlySpan<float> scores, RoutingShape shape, ReadOnlySpan<float> p, int iteration)
    {
        int n = shape.Tokens;
        int m = shape.Experts;
        int c = shape.BalancedCapacity;
        if (c >= n)
        {
            // Every token fits in every expert: the capacity constraint never binds.
            Array.Clear(_q);
            return;
        }

        // Exact: the (c+1)-th largest = ascending index n - c - 1. Quantile: level 1 - k/m, interpolated.
        int ascIndex;
        float fraction;
        if (_options.Statistic == OrderStatisticMode.Exact)
        {
            ascIndex = n - c - 1;
            fraction = 0f;
        }
        else
        {
            double h = (1.0 - ((double)shape.TopK / m)) * (n - 1);
            ascIndex = (int)Math.Floor(h);
            fraction = (float)(h - ascIndex);
        }

        bool clip = _options.Clip is BipClip.Both or BipClip.Experts;
        _columns.Compute(scores, p, shape, ascIndex, fraction, _q, iteration, clip);
        if (clip)
        {
            foreach (ref float v in _q.AsSpan())
            {
                v = Math.Max(0f, v);
            }
        }
    }

    private void ClipTokens(Span<float> p)
    {
        int negative = 0;
        foreach (float v in p)
        {
            negative += v < 0f ? 1 : 0;
        }

        LastNegativeTokenDualShare = p.IsEmpty ? 0 : (double)negative / p.Length;
        if (_options.Clip is BipClip.Both or BipClip.Tokens)
        {
            foreach (ref float v in p)
            {
                v = Math.Max(0f, v);
            }
        }
    }

    private void EnsureScratch(RoutingShape shape)
    {
        if (_p.Length < shape.Tokens)
        {
            _p = new float[shape.Tokens];
        }
    }
}
