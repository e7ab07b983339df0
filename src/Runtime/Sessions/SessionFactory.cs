using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace MoeServe.Runtime.Sessions;

/// <summary>
/// Decides, once per device, which execution provider its sessions use, and creates sessions with it.
/// CUDA is tried with SessionOptions.AppendExecutionProvider_CUDA(deviceId); when that (or creating a
/// session with it) throws, e.g. because the CUDA 13 libraries are missing, the device falls back to
/// the CPU provider and the reason is reported.
/// </summary>
internal sealed partial class SessionFactory
{
    private readonly RuntimeOptions _options;
    private readonly ILogger _logger;
    private readonly Dictionary<int, DeviceState> _devices = [];
    private readonly ICudaProbe _cuda;
    private readonly SharedOrtState? _shared;
    private readonly (string Key, string Value)[] _extraConfig = ExtraConfigFromEnvironment();
    private int _sessions;

    public SessionFactory(RuntimeOptions options, ILogger logger, ICudaProbe? cuda = null)
    {
        _options = options;
        // Acquired even when this engine does not share: the env is created once per process, and an engine
        // that merely opened the first SessionOptions would leave every later engine without global pools.
        var shared = SharedOrtEnvironment.Acquire(options.IntraOpThreads);
        _shared = options.ShareSessionResources ? shared : null;
        _logger = logger;
        _cuda = cuda ?? OnnxRuntimeCudaProbe.Instance;
        foreach (int device in options.Devices)
        {
            _devices[device] = new DeviceState(device, WantsCuda(options.ExecutionProvider));
        }
    }

    public bool UsesCuda(int device) => _devices[device].UseCuda;

    /// <summary>Creates a session for a graph on a device (CUDA if that device still uses it, else CPU).</summary>
    /// <param name="path">The graph file.</param>
    /// <param name="device">The device it runs on.</param>
    /// <param name="expert">An expert graph: see <see cref="CreateCpu"/>.</param>
    public InferenceSession Create(string path, int device, bool expert = false)
    {
        var state = _devices[device];
        if (state.UseCuda)
        {
            SessionOptions? cudaOptions = null;
            try
            {
                cudaOptions = NewOptions(cpu: false, expert);

                // The engine reports the failure itself; ONNX Runtime's process-wide logger may still print one line.
                cudaOptions.LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
                _cuda.Append(cudaOptions, device);
                var session = new InferenceSession(path, cudaOptions);
                cudaOptions.Dispose();
                Interlocked.Increment(ref _sessions);
                return session;
            }
            catch (Exception ex) when (ex is OnnxRuntimeException or DllNotFoundException or EntryPointNotFoundException or InvalidOperationException)
            {
                cudaOptions?.Dispose();
                state.UseCuda = false;
                state.FallbackReason = ex.Message;
                if (_options.ExecutionProvider == ExecutionProviderKind.Cuda)
                {
                    LogCudaFallback(_logger, device, ex.Message);
                }
                else
                {
                    LogCudaUnavailable(_logger, device, ex.Message);
                }
            }
        }

        return CreateCpu(path, expert);
    }

    /// <summary>
    /// A CPU session regardless of the device (the resilience fallback). An expert graph runs on one thread
    /// when the shared pool has several: the workers already run experts side by side, and each of their Runs
    /// splitting over the same pool would put more threads than cores on the step (OLMoE shape, 8 streams:
    /// 40.4-46.2 against 37.4-37.9 tokens/s, docs/benchmarks.md); the dense graphs keep the whole pool.
    /// </summary>
    /// <param name="path">The graph file.</param>
    /// <param name="expert">Whether the graph is an expert's.</param>
    public InferenceSession CreateCpu(string path, bool expert = false)
    {
        using var options = NewOptions(cpu: true, expert);
        var session = new InferenceSession(path, options);
        Interlocked.Increment(ref _sessions);
        return session;
    }

    /// <summary>How the sessions created so far share threads and memory.</summary>
    public SessionResourceReport Resources => new(
        _shared?.GlobalThreadPools ?? false,
        _shared is { GlobalThreadPools: true } ? _shared.IntraOpThreads : _options.IntraOpThreads,
        _shared?.CpuArena ?? false,
        Volatile.Read(ref _sessions));

    public DeviceReport Report(int device, int expertsPlaced)
    {
        var state = _devices[device];
        bool wanted = WantsCuda(_options.ExecutionProvider);
        return new DeviceReport(
            device,
            _options.ExecutionProvider,
            state.UseCuda ? DeviceReport.CudaProvider : DeviceReport.CpuProvider,
            wanted && !state.UseCuda,
            wanted && !state.UseCuda ? state.FallbackReason : null,
            expertsPlaced);
    }

    private static bool WantsCuda(ExecutionProviderKind kind) => kind is ExecutionProviderKind.Cuda or ExecutionProviderKind.Auto;

    private SessionOptions NewOptions(bool cpu, bool expert)
    {
        var options = new SessionOptions
        {
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        if (expert && _shared is { GlobalThreadPools: true, IntraOpThreads: > 1 })
        {
            // Its own pool of one thread: the calling worker only, no thread is created.
            options.IntraOpNumThreads = 1;
            options.InterOpNumThreads = 1;
        }
        else if (_shared is { GlobalThreadPools: true })
        {
            // One intra-op pool for the process (sized when the env was created) instead of one per session.
            options.DisablePerSessionThreads();
        }
        else
        {
            options.IntraOpNumThreads = _options.IntraOpThreads;
            options.InterOpNumThreads = 1;

            // Many sessions share two cores: spinning intra-op threads would steal them from each other.
            options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        }

        if (cpu && _shared is { CpuArena: true })
        {
            // The env's one CPU arena instead of an arena per session. Only for CPU sessions: the env
            // allocator is matched by memory info, and how a CUDA session would mix it with its own
            // device and pinned allocators cannot be verified without a GPU, so CUDA sessions keep
            // exactly the provider's documented setup.
            options.AddSessionConfigEntry("session.use_env_allocators", "1");
        }

        foreach (var (key, value) in _extraConfig)
        {
            options.AddSessionConfigEntry(key, value);
        }

        return options;
    }

    // Diagnostic only (docs/benchmarks.md, "OLMoE-1B-7B shape"): extra ONNX Runtime session config entries,
    // "key=value;key=value", to measure what a setting such as session.disable_prepacking or
    // session.use_device_allocator_for_initializers does to load time and resident memory without a rebuild.
    // Read once per factory, not once per session (a big model has over a thousand).
    private static (string Key, string Value)[] ExtraConfigFromEnvironment() =>
        Environment.GetEnvironmentVariable("MOESERVE_ORT_SESSION_CONFIG") is { Length: > 0 } extra
            ? extra.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(e => e.Split('=', 2))
                .Where(kv => kv.Length == 2 && kv[0].Length > 0)
                .Select(kv => (kv[0], kv[1]))
                .ToArray()
            : [];

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "CUDA was requested for device {Device} but cannot be used; its graphs run on the CPU provider. Reason: {Reason}")]
    private static partial void LogCudaFallback(ILogger logger, int device, string reason);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "CUDA is not available for device {Device} (auto); using the CPU provider. Reason: {Reason}")]
    private static partial void LogCudaUnavailable(ILogger logger, int device, string reason);

    private sealed class DeviceState(int id, bool useCuda)
    {
        public int Id { get; } = id;

        public bool UseCuda { get; set; } = useCuda;

        public string? FallbackReason { get; set; }
    }
}

/// <summary>Adds the CUDA provider to session options (a seam so tests can simulate a machine where CUDA works or fails).</summary>
internal interface ICudaProbe
{
    void Append(SessionOptions options, int deviceId);
}

/// <summary>The real probe: ONNX Runtime's AppendExecutionProvider_CUDA.</summary>
internal sealed class OnnxRuntimeCudaProbe : ICudaProbe
{
    public static readonly OnnxRuntimeCudaProbe Instance = new();

    public void Append(SessionOptions options, int deviceId) => options.AppendExecutionProvider_CUDA(deviceId);
}
