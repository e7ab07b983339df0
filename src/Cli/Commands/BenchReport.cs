namespace MoeServe.Cli.Commands;

/// <summary>bench's --json output.</summary>
internal sealed record BenchReport(
    string Model,
    BenchSettings Settings,
    IReadOnlyList<BenchLevel> Levels,
    BenchRoutingComparison? RoutingComparison,
    BenchPeak? Peak,
    BenchExpertCost? ExpertCost,
    string Note,
    BenchPeerReport? Peer = null,
    BenchBandwidthReport? Bandwidth = null);

/// <summary>What bench ran with.</summary>
internal sealed record BenchSettings(
    int PromptTokens,
    int MaxTokens,
    int ExpertWorkers,
    int IntraOpThreads,
    string Routing,
    string Provider,
    IReadOnlyList<string> DevicesUsed,
    int Layers,
    int Experts,
    int TopK,
    int DModel,
    int ExpertHidden,
    int ProcessorCount,
    string PromptSource,
    string LoadAverageAtStart);

/// <summary>One concurrency level: batched per-expert dispatch and, when run, the per-token baseline.</summary>
internal sealed record BenchLevel(
    int Concurrency,
    BenchRun Batched,
    BenchRun? PerToken,
    double? BatchingGain,
    double? MedianStepGain,
    double? ExpertPhaseGain,
    double? CpuGain,
    double? ExpertPeakFraction,
    double? PredictedExpertPhaseGain,
    BenchSessionsComparison? Sessions = null,
    BenchKvCacheComparison? KvCache = null);

/// <summary>
/// <c>--compare-kv-cache</c>: the same batched decode on a second engine with the other KV cache element type,
/// interleaved run by run (medians of each), so both see the same load.
/// </summary>
/// <param name="Float16TokensPerSecond">Decode tokens/s with a float16 cache.</param>
/// <param name="Float32TokensPerSecond">Decode tokens/s with a float32 cache.</param>
/// <param name="Float16AttentionMsPerStep">Attention ms per step, float16 (the median run's).</param>
/// <param name="Float32AttentionMsPerStep">Attention ms per step, float32.</param>
internal sealed record BenchKvCacheComparison(
    double Float16TokensPerSecond,
    double Float32TokensPerSecond,
    double Float16AttentionMsPerStep,
    double Float32AttentionMsPerStep)
{
    /// <summary>Float16TokensPerSecond / Float32TokensPerSecond.</summary>
    public double Float16OverFloat32 => Float16TokensPerSecond / Float32TokensPerSecond;

    /// <summary>Float32AttentionMsPerStep / Float16AttentionMsPerStep: how much faster float16's attention is.</summary>
    public double AttentionFloat32OverFloat16 => Float32AttentionMsPerStep / Float16AttentionMsPerStep;

    public static BenchKvCacheComparison Of(BenchRun half, BenchRun single) =>
        new(half.DecodeTokensPerSecond, single.DecodeTokensPerSecond, half.AttentionMsPerStep, single.AttentionMsPerStep);
}

/// <summary>
/// <c>--compare-sessions</c>: the same batched decode on a second engine whose sessions share ONNX Runtime's
/// global pools and CPU arena the other way round, interleaved run by run (medians of each).
/// </summary>
/// <param name="SharedTokensPerSecond">Decode tokens/s with shared pools and arena.</param>
/// <param name="OwnTokensPerSecond">Decode tokens/s with a pool and arena per session.</param>
/// <param name="SharedMedianStepTokensPerSecond">Tokens/s at the median step, shared.</param>
/// <param name="OwnMedianStepTokensPerSecond">Tokens/s at the median step, per session.</param>
internal sealed record BenchSessionsComparison(
    double SharedTokensPerSecond,
    double OwnTokensPerSecond,
    double SharedMedianStepTokensPerSecond,
    double OwnMedianStepTokensPerSecond)
{
    /// <summary>SharedTokensPerSecond / OwnTokensPerSecond.</summary>
    public double SharedOverOwn => SharedTokensPerSecond / OwnTokensPerSecond;

    /// <summary>The same ratio at the median step.</summary>
    public double SharedOverOwnAtMedianStep => SharedMedianStepTokensPerSecond / OwnMedianStepTokensPerSecond;

    public static BenchSessionsComparison Of(BenchRun shared, BenchRun own) =>
        new(shared.DecodeTokensPerSecond, own.DecodeTokensPerSecond, shared.MedianStepTokensPerSecond, own.MedianStepTokensPerSecond);
}

/// <summary>Measurements of one decode run (c sequences, max-tokens steps).</summary>
internal sealed record BenchRun(
    string Dispatch,
    string Routing,
    int Steps,
    double PrefillSeconds,
    double DecodeSeconds,
    double DecodeTokensPerSecond,
    double MedianStepTokensPerSecond,
    BenchLatency StepLatencyMs,
    double ExpertRunsPerStep,
    double MeanExpertBatchTokens,
    double MaxExpertBatchTokens,
    IReadOnlyList<double> MeanTokensPerExpert,
    double MakespanMsPerLayer,
    double MakespanMsPerStep,
    double WorkerBusyMsPerStep,
    double ExpertPhaseMsPerStep,
    double DenseMsPerStep,
    double AttentionMsPerStep,
    double HeadMsPerStep,
    double RouterMsPerStep,
    double MaxVioBatch,
    double MaxVioGlobal,
    double ExpertGflopsPerThread,
    double AllocatedBytesPerStep,
    double CpuMsPerToken,
    double ShareDense,
    double ShareExperts);

/// <summary>Step latency distribution in milliseconds.</summary>
internal sealed record BenchLatency(double Mean, double P50, double P95, double Max);

/// <summary>The same decode run with the trained q and with plain top-K (and online BIP).</summary>
internal sealed record BenchRoutingComparison(int Concurrency, BenchRun Trained, BenchRun TopK, BenchRun? OnlineBip);

/// <summary>The machine's measured matrix-multiply peak (an ONNX MatMul on one thread, and on every worker at once).</summary>
internal sealed record BenchPeak(int Size, double GflopsOneThread, double GflopsAllWorkers, int Workers);

/// <summary>One expert Run's cost at one token count.</summary>
internal sealed record BenchExpertCostPoint(int Tokens, double MicrosecondsPerRun);

/// <summary>
/// One expert's Run time versus its token count: t(1), the marginal cost of a token in a large Run,
/// and the ceiling they put on the expert-phase gain of per-expert batching over per-token dispatch,
/// t(1) / marginal (null when no marginal cost was measured).
/// </summary>
internal sealed record BenchExpertCost(
    string Graph,
    IReadOnlyList<BenchExpertCostPoint> Points,
    double SingleTokenMicroseconds,
    double MarginalMicrosecondsPerToken,
    double? CeilingGain);
