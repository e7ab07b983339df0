namespace MoeServe.Runtime;

/// <summary>
/// What one <see cref="MoeEngine.Forward"/> step did, per layer: tokens per expert, MaxVio_batch, seconds
/// spent in each expert's Run, each worker's busy time and the expert phase's makespan. Allocate once
/// (<see cref="MoeEngine.CreateStatistics"/>) and pass it to every step: Forward overwrites it, nothing
/// is allocated per step.
/// </summary>
public sealed class ForwardStatistics
{
    private readonly int[] _expertTokens;
    private readonly double[] _expertRunSeconds;
    private readonly double[] _workerBusySeconds;
    private readonly double[] _makespanSeconds;
    private readonly double[] _maxVio;

    /// <summary>Creates statistics for a model shape.</summary>
    /// <param name="layers">Number of layers.</param>
    /// <param name="experts">Experts per layer.</param>
    /// <param name="workers">Expert workers.</param>
    public ForwardStatistics(int layers, int experts, int workers)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(experts);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(workers);
        Layers = layers;
        Experts = experts;
        Workers = workers;
        _expertTokens = new int[layers * experts];
        _expertRunSeconds = new double[layers * experts];
        _workerBusySeconds = new double[layers * workers];
        _makespanSeconds = new double[layers];
        _maxVio = new double[layers];
    }

    /// <summary>Number of layers.</summary>
    public int Layers { get; }

    /// <summary>Experts per layer.</summary>
    public int Experts { get; }

    /// <summary>Expert workers.</summary>
    public int Workers { get; }

    /// <summary>Sequences in the step.</summary>
    public int Sequences { get; internal set; }

    /// <summary>Tokens in the step (sum of every item's token count).</summary>
    public int Tokens { get; internal set; }

    /// <summary>Expert graph Runs in the step, over all layers (batched: at most layers x experts).</summary>
    public int ExpertRuns { get; internal set; }

    /// <summary>Expert Runs that failed on their device (or met an open breaker) and were re-run on CPU.</summary>
    public int CpuFallbackRuns { get; internal set; }

    /// <summary>Wall seconds of the whole step.</summary>
    public double TotalSeconds { get; internal set; }

    /// <summary>Wall seconds in the embedding graph.</summary>
    public double EmbedSeconds { get; internal set; }

    /// <summary>
    /// Wall seconds in the dense part of every layer: the qkv graph, the managed attention over the KV
    /// caches and the post graph (each once per layer over all tokens of the step), all layers.
    /// </summary>
    public double DenseSeconds { get; internal set; }

    /// <summary>The managed attention's share of <see cref="DenseSeconds"/> (cache append, scores, softmax, weighted values), all layers.</summary>
    public double AttentionSeconds { get; internal set; }

    /// <summary>Wall seconds in routing (scores, selection, dispatch plan), all layers.</summary>
    public double RouterSeconds { get; internal set; }

    /// <summary>Wall seconds of the expert phases (gather, Runs, scatter-add), all layers.</summary>
    public double ExpertPhaseSeconds { get; internal set; }

    /// <summary>Wall seconds in the head graph.</summary>
    public double HeadSeconds { get; internal set; }

    /// <summary>Tokens routed to each expert of <paramref name="layer"/> (sums to Tokens x topK).</summary>
    /// <param name="layer">Layer index.</param>
    public ReadOnlySpan<int> ExpertTokens(int layer) => _expertTokens.AsSpan(layer * Experts, Experts);

    /// <summary>Seconds each expert's Run(s) took in <paramref name="layer"/> (0 for experts without tokens).</summary>
    /// <param name="layer">Layer index.</param>
    public ReadOnlySpan<double> ExpertRunSeconds(int layer) => _expertRunSeconds.AsSpan(layer * Experts, Experts);

    /// <summary>Seconds each worker spent inside expert Runs in <paramref name="layer"/>.</summary>
    /// <param name="layer">Layer index.</param>
    public ReadOnlySpan<double> WorkerBusySeconds(int layer) => _workerBusySeconds.AsSpan(layer * Workers, Workers);

    /// <summary>Wall seconds from the first expert Run's start to the last one's end in <paramref name="layer"/>: the makespan balance is meant to shorten.</summary>
    /// <param name="layer">Layer index.</param>
    public double MakespanSeconds(int layer) => _makespanSeconds[layer];

    /// <summary>MaxVio_batch of <paramref name="layer"/>: (max load - mean load) / mean load with mean = Tokens x topK / experts.</summary>
    /// <param name="layer">Layer index.</param>
    public double MaxVio(int layer) => _maxVio[layer];

    /// <summary>Mean MaxVio_batch over layers.</summary>
    public double MeanMaxVio
    {
        get
        {
            double sum = 0;
            foreach (var v in _maxVio)
            {
                sum += v;
            }

            return sum / Layers;
        }
    }

    /// <summary>Sum of the layers' makespans.</summary>
    public double TotalMakespanSeconds
    {
        get
        {
            double sum = 0;
            foreach (var v in _makespanSeconds)
            {
                sum += v;
            }

            return sum;
        }
    }

    /// <summary>Zeroes everything (Forward calls this at the start of a step).</summary>
    public void Reset()
    {
        Array.Clear(_expertTokens);
        Array.Clear(_expertRunSeconds);
        Array.Clear(_workerBusySeconds);
        Array.Clear(_makespanSeconds);
        Array.Clear(_maxVio);
        Sequences = 0;
        Tokens = 0;
        ExpertRuns = 0;
        CpuFallbackRuns = 0;
        TotalSeconds = 0;
        EmbedSeconds = 0;
        DenseSeconds = 0;
        AttentionSeconds = 0;
        RouterSeconds = 0;
        ExpertPhaseSeconds = 0;
        HeadSeconds = 0;
    }

    internal Span<int> ExpertTokensMutable(int layer) => _expertTokens.AsSpan(layer * Experts, Experts);

    internal Span<double> ExpertRunSecondsMutable(int layer) => _expertRunSeconds.AsSpan(layer * Experts, Experts);

    internal Span<double> WorkerBusySecondsMutable(int layer) => _workerBusySeconds.AsSpan(layer * Workers, Workers);

    internal void SetLayer(int layer, double makespanSeconds, double maxVio)
    {
        _makespanSeconds[layer] = makespanSeconds;
        _maxVio[layer] = maxVio;
    }
}
