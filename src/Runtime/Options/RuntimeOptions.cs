using System.Globalization;
using MoeServe.Model;
using MoeServe.Router;
using MoeServe.Runtime.Experts;

namespace MoeServe.Runtime;

/// <summary>
/// Everything <see cref="MoeEngine.Load(RuntimeOptions, Microsoft.Extensions.Logging.ILoggerFactory?)"/> needs. Validate with <see cref="Validate"/> (every problem
/// listed at once); <see cref="MoeEngine.Load(RuntimeOptions, Microsoft.Extensions.Logging.ILoggerFactory?)"/> calls <see cref="EnsureValid"/> itself.
/// </summary>
public sealed record RuntimeOptions
{
    /// <summary>The exported model: a directory holding manifest.json (models/NAME), or the manifest file itself.</summary>
    public required string ModelPath { get; init; }

    /// <summary>Execution provider requested for expert (and dense) graphs. Default <see cref="ExecutionProviderKind.Cpu"/>.</summary>
    public ExecutionProviderKind ExecutionProvider { get; init; } = ExecutionProviderKind.Cpu;

    /// <summary>Device ids that experts are spread over round-robin (expert j goes to Devices[j % count]) unless <see cref="ExpertDeviceMap"/> names it. Default [0].</summary>
    public IReadOnlyList<int> Devices { get; init; } = [0];

    /// <summary>Optional placement: expert index (same for every layer) to device id. Experts not listed go round-robin over <see cref="Devices"/>.</summary>
    public IReadOnlyDictionary<int, int>? ExpertDeviceMap { get; init; }

    /// <summary>Threads that run independent expert graphs (and the per-sequence dense graphs) of one step concurrently; the calling thread is one of them. Default 2.</summary>
    public int ExpertWorkers { get; init; } = 2;

    /// <summary>
    /// Steps with fewer tokens than this run their phases on the calling thread only: for one decode
    /// token, waking a worker costs more than the expert Run it would take over. Default 4; 1 always
    /// uses the workers. Models whose experts are large (a token's top-k expert work above 4M
    /// multiply-adds, e.g. OLMoE's) always use the workers for the expert phase.
    /// </summary>
    public int MinParallelTokens { get; init; } = 4;

    /// <summary>
    /// ONNX Runtime intra-op threads: the size of the process's global pool when <see cref="ShareSessionResources"/>
    /// (fixed by the first engine loaded in the process), else of each session's own pool. Default 0, by the
    /// model: 1 when its experts are small (on few cores, several single-threaded Runs driven by the workers
    /// beat multi-threaded Runs at small batch sizes), the processor count when they are large (one token's
    /// top-k expert work above 4M multiply-adds, e.g. OLMoE: its single-token dense Runs stream megabytes).
    /// </summary>
    public int IntraOpThreads { get; init; }

    /// <summary>
    /// Every session uses ONNX Runtime's global thread pools (DisablePerSessionThreads) and CPU sessions one arena
    /// allocator registered on the environment (<c>session.use_env_allocators</c>), instead of a pool and an
    /// arena each: what keeps 1,024 expert sessions cheap. Default true; false restores per-session pools and
    /// arenas (the comparison in docs/benchmarks.md).
    /// </summary>
    public bool ShareSessionResources { get; init; } = true;

    /// <summary>
    /// Expert selection, one of <see cref="RoutingPolicyFactory.ServingMethods"/>: <see cref="RoutingMethod.BiasedTopK"/>
    /// (<c>trained</c>: TopK(s - q) with the manifest's frozen q, deterministic per token; the default),
    /// <see cref="RoutingMethod.Bip"/> (<c>online-bip</c>: BIP on every step, warm-started from q, so a
    /// token's experts depend on its batch-mates) or <see cref="RoutingMethod.TopK"/> (<c>topk</c>: plain top-K, ignores q).
    /// </summary>
    public RoutingMethod Routing { get; init; } = RoutingMethod.BiasedTopK;

    /// <summary>BIP iterations per layer per step when <see cref="Routing"/> is <see cref="RoutingMethod.Bip"/>. Default 2.</summary>
    public int OnlineBipIterations { get; init; } = 2;

    /// <summary>
    /// With <see cref="RoutingMethod.Bip"/>, steps with fewer tokens than this route with the
    /// current q without updating it; null (default) = the model's expert count m, i.e. at least k
    /// routed tokens per expert on average; 0 = update on every step.
    /// </summary>
    public int? OnlineBipMinTokens { get; init; }

    /// <summary>Largest accepted <see cref="QScale"/>.</summary>
    public const double MaxQScale = 16;

    /// <summary>
    /// lambda, the dial between balance and fidelity to the unbalanced router: the served q is lambda x q
    /// (0 routes like plain top-K, 1 serves q as calibrated or trained, above 1 pushes further towards
    /// balance). Applied once at load where q is read, never per token. Default 1; 0..<see cref="MaxQScale"/>.
    /// </summary>
    public double QScale { get; init; } = 1.0;

    /// <summary>Per-layer q to serve instead of the manifest's (evaluation of other q: the frontier command); null = the manifest's. Checked against the model at load.</summary>
    public IReadOnlyList<float[]>? QOverride { get; init; }

    /// <summary>Batched per-expert Runs (default) or the per-token baseline.</summary>
    public ExpertDispatchMode Dispatch { get; init; } = ExpertDispatchMode.Batched;

    /// <summary>Largest number of KV caches alive at once; <see cref="MoeEngine.CreateCache"/> throws beyond it. Default 64.</summary>
    public int MaxSequences { get; init; } = 64;

    /// <summary>
    /// How the KV cache stores keys and values: <see cref="KvCacheDType.Float16"/> (default: half the
    /// bytes attention reads) or <see cref="KvCacheDType.Float32"/>. Attention computes in float32 either way.
    /// </summary>
    public KvCacheDType KvCacheDType { get; init; } = KvCacheDType.Float16;

    /// <summary>
    /// Whether managed kernels run what they apply to: <see cref="KernelChoice.Auto"/> (default: 4-bit experts in the
    /// int4 kernel; a small float16 model's steps of few tokens in the float16 kernels; see docs/runtime.md) or
    /// <see cref="KernelChoice.Onnx"/> (ONNX Runtime sessions for everything).
    /// </summary>
    public KernelChoice Kernels { get; init; } = KernelChoice.Auto;

    /// <summary>Largest total number of tokens in one <see cref="MoeEngine.Forward"/> call (prefill chunks plus decode tokens). Default 2048.</summary>
    public int MaxBatchTokens { get; init; } = 2048;

    /// <summary>Circuit breaker around each device's expert Runs.</summary>
    public ExpertResilienceOptions Resilience { get; init; } = new();

    /// <summary>
    /// Told how far a load has come, after each layer once the load has taken a second or more (so a small
    /// model's load reports nothing); called on the loading thread. Null: no reports.
    /// </summary>
    public IProgress<ModelLoadProgress>? LoadProgress { get; init; }

    /// <summary>Shortest time between two <see cref="LoadProgress"/> reports (tests set zero).</summary>
    internal TimeSpan LoadProgressInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Test seam: called before every expert Run on its primary device; throwing simulates a device failure. Null in production.</summary>
    public IExpertFaultInjector? FaultInjector { get; init; }

    /// <summary>Clock for the circuit breaker (tests pass a fake one).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Every problem with these options, each naming its field; empty when valid. Model-dependent checks (expert indices in the map) happen at load.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(ModelPath))
        {
            errors.Add("modelPath is required (a models/NAME directory or its manifest.json).");
        }

        if (!Enum.IsDefined(ExecutionProvider))
        {
            errors.Add($"executionProvider must be cpu, cuda or auto, got {(int)ExecutionProvider}.");
        }

        if (!RoutingPolicyFactory.ServingMethods.Contains(Routing))
        {
            errors.Add("routing: " + RoutingPolicyFactory.UnknownNameMessage(Enum.IsDefined(Routing) ? RoutingPolicyFactory.NameOf(Routing) : ((int)Routing).ToString(CultureInfo.InvariantCulture), RoutingPolicyFactory.ServingMethods));
        }

        if (!Enum.IsDefined(Kernels))
        {
            errors.Add($"kernels must be auto or onnx, got {(int)Kernels}.");
        }

        if (!Enum.IsDefined(KvCacheDType))
        {
            errors.Add($"kvCacheDType must be float16 or float32, got {(int)KvCacheDType}.");
        }

        if (!Enum.IsDefined(Dispatch))
        {
            errors.Add($"dispatch must be batched or perToken, got {(int)Dispatch}.");
        }

        if (Devices is null || Devices.Count == 0)
        {
            errors.Add("devices must list at least one device id.");
        }
        else
        {
            foreach (var device in Devices)
            {
                if (device < 0)
                {
                    errors.Add($"devices: device id must be >= 0, got {device}.");
                }
            }

            if (Devices.Distinct().Count() != Devices.Count)
            {
                errors.Add($"devices must not repeat an id, got [{string.Join(", ", Devices)}].");
            }
        }

        if (ExpertDeviceMap is not null)
        {
            foreach (var (expert, device) in ExpertDeviceMap)
            {
                if (expert < 0)
                {
                    errors.Add(string.Create(CultureInfo.InvariantCulture, $"expertDeviceMap: expert index must be >= 0, got {expert}."));
                }

                if (device < 0)
                {
                    errors.Add(string.Create(CultureInfo.InvariantCulture, $"expertDeviceMap: device id for expert {expert} must be >= 0, got {device}."));
                }
            }
        }

        Range(errors, ExpertWorkers, 1, 256, "expertWorkers");
        Range(errors, IntraOpThreads, 0, 256, "intraOpThreads");
        Range(errors, MinParallelTokens, 1, 1_000_000, "minParallelTokens");
        Range(errors, OnlineBipIterations, 1, 64, "onlineBipIterations");
        if (OnlineBipMinTokens is int minTokens)
        {
            Range(errors, minTokens, 0, 1_000_000, "onlineBipMinTokens");
        }
        if (!double.IsFinite(QScale) || QScale < 0 || QScale > MaxQScale)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"qScale must be a number in [0, {MaxQScale}], got {QScale}."));
        }

        Range(errors, MaxSequences, 1, 1_000_000, "maxSequences");
        Range(errors, MaxBatchTokens, 1, 1_000_000, "maxBatchTokens");
        NestedOptionErrors.Add(errors, "resilience", Resilience?.Validate());

        if (TimeProvider is null)
        {
            errors.Add("timeProvider must not be null.");
        }

        return errors;
    }

    /// <summary>Throws one <see cref="ArgumentException"/> listing every problem, if any.</summary>
    public void EnsureValid()
    {
        ErrorList.ThrowInvalidArgumentIfAny("Invalid runtime options", Validate());
    }

    private static void Range(List<string> errors, int value, int min, int max, string name)
    {
        if (value < min || value > max)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{name} must be in [{min}, {max}], got {value}."));
        }
    }
}
