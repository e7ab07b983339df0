using MoeServe.Router;
using MoeServe.Runtime;

namespace MoeServe.Server.Options;

/// <summary>
/// Everything an operator can set, bound once (<see cref="ServerOptionsSetup"/>) from the "MoeServe"
/// section of appsettings.json, environment variables (MoeServe__MaxBatchSequences=8) and the command
/// line (--MoeServe:MaxBatchSequences=8, or the short switches in <see cref="CommandLineSwitches"/>),
/// and served as <c>IOptions&lt;ServerOptions&gt;</c>. Defaults live in <see cref="ServerDefaults"/>;
/// <see cref="ServerOptionsValidator"/> checks it all when the host starts.
/// </summary>
public sealed class ServerOptions
{
    /// <summary>Configuration section the options bind from.</summary>
    public const string SectionName = "MoeServe";

    /// <summary>Directory of an exported model (holding manifest.json); relative paths are resolved from the working directory.</summary>
    public string ModelPath { get; set; } = ServerDefaults.ModelPath;

    /// <summary>Model id clients send and /v1/models lists; empty means the model directory's name.</summary>
    public string ModelName { get; set; } = "";

    /// <summary>Execution provider: cpu, cuda (falls back to CPU per device when CUDA cannot load) or auto.</summary>
    public ExecutionProviderKind ExecutionProvider { get; set; } = ServerDefaults.ExecutionProvider;

    /// <summary>Device ids experts are spread over round-robin, e.g. "0,1".</summary>
    public IReadOnlyList<string> Devices { get; set; } = ["0"];

    /// <summary>Optional placement entries "expert=device" (same expert index in every layer), e.g. "3=1".</summary>
    public IReadOnlyList<string> DeviceMap { get; set; } = [];

    /// <summary>Threads that run expert graphs of one step concurrently.</summary>
    public int Workers { get; set; } = ServerDefaults.Workers;

    /// <summary>Intra-op threads: of the process's global ONNX Runtime pool when sessions share it, else of each session; 0 (default) = by the model (1, or the processor count for large experts).</summary>
    public int IntraOpThreads { get; set; }

    /// <summary>
    /// Every session uses the process's one ONNX Runtime thread pool and CPU arena (default) instead of its own;
    /// false restores per-session pools and arenas (docs/runtime.md, "Threads and memory shared by every session").
    /// </summary>
    public bool ShareSessionResources { get; set; } = true;

    /// <summary>KV cache element type: float16 (default: half the bytes attention reads per step) or float32 (the qkv graph's numbers exactly). docs/runtime.md, "KV cache".</summary>
    public KvCacheDType KvCacheDType { get; set; } = ServerDefaults.KvCacheDType;

    /// <summary>Managed kernels where they apply: auto (default: 4-bit experts; a small float16 model's steps of few tokens) or onnx (ONNX Runtime for everything). docs/runtime.md, "Managed kernels".</summary>
    public KernelChoice Kernels { get; set; } = ServerDefaults.Kernels;

    /// <summary>BIP iterations per layer per step when RoutingPolicy is "online-bip".</summary>
    public int OnlineBipIterations { get; set; } = 2;

    /// <summary>Under "online-bip", steps with fewer tokens route with q unchanged; null = the model's expert count, 0 = always update.</summary>
    public int? OnlineBipMinTokens { get; set; }

    /// <summary>lambda: the server routes with lambda x q (0 = plain top-K on the router, 1 = q as calibrated or trained); 0..16. See docs/balancing.md for the choice of the default.</summary>
    public double QScale { get; set; } = ServerDefaults.QScale;

    /// <summary>Routing policy: "trained" (trained q, default), "online-bip" (BIP per step, warm-started from q), "topk" (plain top-K).</summary>
    public RoutingMethod RoutingPolicy { get; set; } = ServerDefaults.RoutingPolicy;

    /// <summary>Most sequences decoded together in one step.</summary>
    public int MaxBatchSequences { get; set; } = ServerDefaults.MaxBatchSequences;

    /// <summary>Most tokens (decode tokens plus prefill chunks) in one engine step.</summary>
    public int MaxStepTokens { get; set; } = ServerDefaults.MaxStepTokens;

    /// <summary>Largest slice of a prompt prefilled in one step, so a long prompt does not stall decoding.</summary>
    public int PrefillChunkTokens { get; set; } = ServerDefaults.PrefillChunkTokens;

    /// <summary>Requests that may wait for a batch slot; beyond this, new requests get 429.</summary>
    public int MaxWaitingRequests { get; set; } = ServerDefaults.MaxWaitingRequests;

    /// <summary>Context length to serve; 0 means the model's own. Must not exceed the model's.</summary>
    public int ContextLength { get; set; }

    /// <summary>Deadline for one request, from arrival to its last token, in seconds.</summary>
    public double RequestTimeoutSeconds { get; set; } = ServerDefaults.RequestTimeoutSeconds;

    /// <summary>How long shutdown lets running and queued requests finish, in seconds, from the stop signal; the rest end with a 503 or a final error event.</summary>
    public double DrainTimeoutSeconds { get; set; } = ServerDefaults.DrainTimeoutSeconds;

    /// <summary>How long the listener keeps accepting after the stop signal at least (readiness 503, new generation requests 503), in seconds, so a load balancer sees the drain.</summary>
    public double ShutdownGraceSeconds { get; set; } = ServerDefaults.ShutdownGraceSeconds;

    /// <summary>Retry-After value sent with 429, in seconds.</summary>
    public int RetryAfterSeconds { get; set; } = ServerDefaults.RetryAfterSeconds;

    /// <summary>Largest accepted request body in bytes; larger bodies get 413 before they are read.</summary>
    public long MaxRequestBodyBytes { get; set; } = ServerDefaults.MaxRequestBodyBytes;

    /// <summary>max_tokens when a request sets none.</summary>
    public int DefaultMaxTokens { get; set; } = ServerDefaults.DefaultMaxTokens;

    /// <summary>Temperature when a request sets none.</summary>
    public double DefaultTemperature { get; set; } = ServerDefaults.DefaultTemperature;

    /// <summary>top_p when a request sets none.</summary>
    public double DefaultTopP { get; set; } = ServerDefaults.DefaultTopP;

    /// <summary>top_k when a request sets none (0 = off).</summary>
    public int DefaultTopK { get; set; }

    /// <summary>Port of the default listen address http://localhost:PORT, used when no "urls" setting is given.</summary>
    public int Port { get; set; } = ServerDefaults.Port;

    /// <summary>Seconds of history the dashboard keeps (MaxVio and throughput).</summary>
    public int DashboardHistorySeconds { get; set; } = ServerDefaults.DashboardHistorySeconds;
}

/// <summary>Documented defaults of <see cref="ServerOptions"/>.</summary>
public static class ServerDefaults
{
    /// <summary>The default model the project ships (see models/).</summary>
    public const string ModelPath = "models/default";

    /// <summary>CPU everywhere.</summary>
    public const ExecutionProviderKind ExecutionProvider = ExecutionProviderKind.Cpu;

    /// <summary>KV cache element type.</summary>
    public const KvCacheDType KvCacheDType = MoeServe.Runtime.KvCacheDType.Float16;

    /// <summary>The managed int4 kernel where it applies.</summary>
    public const KernelChoice Kernels = MoeServe.Runtime.KernelChoice.Auto;

    /// <summary>One worker per core of the project's 2-core machine.</summary>
    public const int Workers = 2;

    /// <summary>The trained balancing vector q ("trained").</summary>
    public const RoutingMethod RoutingPolicy = RoutingMethod.BiasedTopK;

    /// <summary>Serve q as calibrated: the frontier in docs/balancing.md has no better point.</summary>
    public const double QScale = 1.0;

    /// <summary>Sequences per decode step.</summary>
    public const int MaxBatchSequences = 32;

    /// <summary>Tokens per engine step.</summary>
    public const int MaxStepTokens = 256;

    /// <summary>Prompt tokens prefilled per sequence per step.</summary>
    public const int PrefillChunkTokens = 64;

    /// <summary>Waiting requests before 429.</summary>
    public const int MaxWaitingRequests = 64;

    /// <summary>Seconds per request.</summary>
    public const double RequestTimeoutSeconds = 120;

    /// <summary>Seconds to drain on shutdown.</summary>
    public const double DrainTimeoutSeconds = 30;

    /// <summary>Seconds the listener stays open after the stop signal: a readiness probe period or two.</summary>
    public const double ShutdownGraceSeconds = 5;

    /// <summary>Seconds a 429'd client should wait.</summary>
    public const int RetryAfterSeconds = 1;

    /// <summary>1 MiB of JSON is far more than any prompt that fits the context.</summary>
    public const long MaxRequestBodyBytes = 1 << 20;

    /// <summary>OpenAI's default for /v1/completions.</summary>
    public const int DefaultMaxTokens = 16;

    /// <summary>OpenAI's default.</summary>
    public const double DefaultTemperature = 1.0;

    /// <summary>OpenAI's default.</summary>
    public const double DefaultTopP = 1.0;

    /// <summary>Seconds of dashboard history.</summary>
    public const int DashboardHistorySeconds = 300;

    /// <summary>Port of the default listen address http://localhost:8080.</summary>
    public const int Port = 8080;
}
