using System.Globalization;
using MoeServe.Runtime;
using Prometheus;

namespace MoeServe.Server.Metrics;

/// <summary>
/// Every Prometheus metric the server exports, in its own registry (so two servers in one test process
/// do not share counters). Label sets are bounded: layer and expert indices of the loaded model,
/// finish reasons, a fixed endpoint list, status codes and device ids.
/// </summary>
public sealed class ServerMetrics
{
    private static readonly double[] LatencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
    private static readonly double[] StepBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

    private Counter.Child[][] _expertTokens = [];
    private Histogram.Child[] _maxVio = [];
    private Gauge.Child[][] _routerBias = [];

    /// <summary>Creates the metrics in a fresh registry.</summary>
    public ServerMetrics()
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);

        ExpertTokens = f.CreateCounter("moeserve_expert_tokens_total", "Tokens routed to each expert, per layer.", "layer", "expert");
        BatchMaxViolation = f.CreateHistogram("moeserve_batch_max_violation", "MaxVio of each engine step per layer: (max expert load - mean) / mean.", new HistogramConfiguration
        {
            LabelNames = ["layer"],
            Buckets = [0, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 16],
        });
        ExpertBatchTokens = f.CreateHistogram("moeserve_expert_batch_tokens", "Tokens in each expert Run (one Run per expert per layer per step).", new HistogramConfiguration
        {
            Buckets = Histogram.ExponentialBuckets(1, 2, 12),
        });
        WorkerMakespan = f.CreateHistogram("moeserve_worker_makespan_seconds", "Busiest worker's expert time in one layer of one step.", new HistogramConfiguration { Buckets = StepBuckets });
        RouterBias = f.CreateGauge("moeserve_router_bias", "The balancing vector q in use (selection is TopK(s - q)).", "layer", "expert");

        RequestsRunning = f.CreateGauge("moeserve_requests_running", "Requests in the running batch.");
        RequestsWaiting = f.CreateGauge("moeserve_requests_waiting", "Requests waiting for a batch slot.");
        KvCachesLive = f.CreateGauge("moeserve_kv_caches_live", "KV caches alive in the engine.");
        PromptTokens = f.CreateCounter("moeserve_prompt_tokens_total", "Prompt tokens prefilled.");
        GenerationTokens = f.CreateCounter("moeserve_generation_tokens_total", "Tokens generated.");
        TimeToFirstToken = f.CreateHistogram("moeserve_time_to_first_token_seconds", "From arrival to the first generated token.", new HistogramConfiguration { Buckets = LatencyBuckets });
        InterTokenLatency = f.CreateHistogram("moeserve_inter_token_latency_seconds", "Between consecutive tokens of a request.", new HistogramConfiguration { Buckets = LatencyBuckets });
        EndToEndLatency = f.CreateHistogram("moeserve_e2e_request_latency_seconds", "From arrival to the last token.", new HistogramConfiguration { Buckets = LatencyBuckets });
        QueueTime = f.CreateHistogram("moeserve_request_queue_time_seconds", "From arrival to joining the running batch.", new HistogramConfiguration { Buckets = LatencyBuckets });
        RequestsByFinishReason = f.CreateCounter("moeserve_requests_finished_total", "Finished generation requests by outcome (stop, length, cancelled, timeout, shutdown, error).", "finish_reason");
        HttpRequests = f.CreateCounter("moeserve_http_requests_total", "HTTP responses by endpoint and status code.", "endpoint", "status");
        StepSeconds = f.CreateHistogram("moeserve_engine_step_seconds", "Duration of one engine forward step.", new HistogramConfiguration { Buckets = StepBuckets });
        StepSequences = f.CreateHistogram("moeserve_engine_step_sequences", "Sequences in one engine step.", new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1, 2, 10) });
        StepTokens = f.CreateHistogram("moeserve_engine_step_tokens", "Tokens (decode plus prefill chunks) in one engine step.", new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1, 2, 12) });
        ExecutionProvider = f.CreateGauge("moeserve_execution_provider_info", "1 for the execution provider each device runs on; fell_back is true when CUDA was asked for and CPU is used.", "device", "provider", "fell_back");
        Fallbacks = f.CreateCounter("moeserve_expert_fallbacks_total", "Expert Runs re-run on the CPU fallback after a device failure or with its circuit open.");
        Ready = f.CreateGauge("moeserve_ready", "1 when the model is loaded and warmed up and the server is not draining.");
    }

    /// <summary>The registry /metrics exports.</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>moeserve_expert_tokens_total{layer,expert}.</summary>
    public Counter ExpertTokens { get; }

    /// <summary>moeserve_batch_max_violation{layer}.</summary>
    public Histogram BatchMaxViolation { get; }

    /// <summary>moeserve_expert_batch_tokens.</summary>
    public Histogram ExpertBatchTokens { get; }

    /// <summary>moeserve_worker_makespan_seconds.</summary>
    public Histogram WorkerMakespan { get; }

    /// <summary>moeserve_router_bias{layer,expert}.</summary>
    public Gauge RouterBias { get; }

    /// <summary>moeserve_requests_running.</summary>
    public Gauge RequestsRunning { get; }

    /// <summary>moeserve_requests_waiting.</summary>
    public Gauge RequestsWaiting { get; }

    /// <summary>moeserve_kv_caches_live.</summary>
    public Gauge KvCachesLive { get; }

    /// <summary>moeserve_prompt_tokens_total.</summary>
    public Counter PromptTokens { get; }

    /// <summary>moeserve_generation_tokens_total.</summary>
    public Counter GenerationTokens { get; }

    /// <summary>moeserve_time_to_first_token_seconds.</summary>
    public Histogram TimeToFirstToken { get; }

    /// <summary>moeserve_inter_token_latency_seconds.</summary>
    public Histogram InterTokenLatency { get; }

    /// <summary>moeserve_e2e_request_latency_seconds.</summary>
    public Histogram EndToEndLatency { get; }

    /// <summary>moeserve_request_queue_time_seconds.</summary>
    public Histogram QueueTime { get; }

    /// <summary>moeserve_requests_finished_total{finish_reason}.</summary>
    public Counter RequestsByFinishReason { get; }

    /// <summary>moeserve_http_requests_total{endpoint,status}.</summary>
    public Counter HttpRequests { get; }

    /// <summary>moeserve_engine_step_seconds.</summary>
    public Histogram StepSeconds { get; }

    /// <summary>moeserve_engine_step_sequences.</summary>
    public Histogram StepSequences { get; }

    /// <summary>moeserve_engine_step_tokens.</summary>
    public Histogram StepTokens { get; }

    /// <summary>moeserve_execution_provider_info{device,provider,fell_back}.</summary>
    public Gauge ExecutionProvider { get; }

    /// <summary>moeserve_expert_fallbacks_total.</summary>
    public Counter Fallbacks { get; }

    /// <summary>moeserve_ready.</summary>
    public Gauge Ready { get; }

    /// <summary>Creates the per-layer, per-expert children once the model's shape is known (so every series exists from the start, at 0).</summary>
    public void InitialiseModel(int layers, int experts, IReadOnlyList<DeviceReport> devices)
    {
        ArgumentNullException.ThrowIfNull(devices);
        _expertTokens = new Counter.Child[layers][];
        _routerBias = new Gauge.Child[layers][];
        _maxVio = new Histogram.Child[layers];
        for (var l = 0; l < layers; l++)
        {
            var layer = l.ToString(CultureInfo.InvariantCulture);
            _maxVio[l] = BatchMaxViolation.WithLabels(layer);
            _expertTokens[l] = new Counter.Child[experts];
            _routerBias[l] = new Gauge.Child[experts];
            for (var e = 0; e < experts; e++)
            {
                var expert = e.ToString(CultureInfo.InvariantCulture);
                _expertTokens[l][e] = ExpertTokens.WithLabels(layer, expert);
                _routerBias[l][e] = RouterBias.WithLabels(layer, expert);
            }
        }

        foreach (var device in devices)
        {
            ExecutionProvider.WithLabels(device.DeviceId.ToString(CultureInfo.InvariantCulture), device.ProviderUsed, device.FellBack ? "true" : "false").Set(1);
        }
    }

    /// <summary>Records the expert-load part of one step's statistics.</summary>
    public void RecordStep(ForwardStatistics statistics, double stepSeconds)
    {
        ArgumentNullException.ThrowIfNull(statistics);
        StepSeconds.Observe(stepSeconds);
        StepSequences.Observe(statistics.Sequences);
        StepTokens.Observe(statistics.Tokens);
        for (var l = 0; l < statistics.Layers && l < _expertTokens.Length; l++)
        {
            var tokens = statistics.ExpertTokens(l);
            for (var e = 0; e < tokens.Length; e++)
            {
                if (tokens[e] > 0)
                {
                    _expertTokens[l][e].Inc(tokens[e]);
                    ExpertBatchTokens.Observe(tokens[e]);
                }
            }

            _maxVio[l].Observe(statistics.MaxVio(l));
            WorkerMakespan.Observe(statistics.MakespanSeconds(l));
        }

        if (statistics.CpuFallbackRuns > 0)
        {
            Fallbacks.Inc(statistics.CpuFallbackRuns);
        }
    }

    /// <summary>Sets the router bias gauges of one layer.</summary>
    public void SetRouterBias(int layer, ReadOnlySpan<float> q)
    {
        if (layer >= _routerBias.Length)
        {
            return;
        }

        for (var e = 0; e < q.Length && e < _routerBias[layer].Length; e++)
        {
            _routerBias[layer][e].Set(q[e]);
        }
    }
}
