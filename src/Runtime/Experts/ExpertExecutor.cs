using Microsoft.ML.OnnxRuntime;
using MoeServe.Runtime.Kernels;
using MoeServe.Runtime.Sessions;
using Polly;
using Polly.CircuitBreaker;

namespace MoeServe.Runtime.Experts;

/// <summary>
/// Runs one expert graph: on its device's session through that device's circuit breaker; when the Run
/// fails (or the breaker is open) the same inputs are re-run on a CPU session of the expert (created on
/// first need), so the step is never lost. Thread-safe (InferenceSession.Run is). A CPU expert may also have a
/// managed kernel (<see cref="Managed"/>) for steps of at most its <see cref="IManagedExpert.MaxRows"/> rows: a 4-bit
/// expert has only that (no session), a float16 one has it for the few rows of decode beside its session.
/// </summary>
internal sealed class ExpertExecutor : IDisposable
{
    private readonly GraphSession? _primary;
    private readonly Lazy<GraphSession>? _fallback;
    private readonly ResiliencePipeline? _breaker;
    private readonly IExpertFaultInjector? _faults;

    public ExpertExecutor(int layer, int expert, int device, GraphSession primary, Func<GraphSession> createCpuFallback, ResiliencePipeline? breaker, IExpertFaultInjector? faults, IManagedExpert? fewRows = null)
    {
        Managed = fewRows;
        Layer = layer;
        Expert = expert;
        Device = device;
        _primary = primary;
        _fallback = new Lazy<GraphSession>(createCpuFallback, LazyThreadSafetyMode.ExecutionAndPublication);
        _breaker = breaker;
        _faults = faults;
    }

    /// <summary>An expert run only in managed code on the calling worker (CPU only; nothing to fall back to).</summary>
    public ExpertExecutor(int layer, int expert, IManagedExpert managed)
    {
        Layer = layer;
        Expert = expert;
        Managed = managed;
    }

    public int Layer { get; }

    /// <summary>The managed kernel of this expert, if it has one.</summary>
    public IManagedExpert? Managed { get; }

    public int Expert { get; }

    public int Device { get; }

    /// <summary>Runs the expert; returns true when the CPU fallback produced the output.</summary>
    public bool Run(RunOptions runOptions, OrtValue[] inputs, OrtValue[] outputs)
    {
        var call = new Call(this, runOptions, inputs, outputs);
        if (_breaker is null)
        {
            RunPrimary(call);
            return false;
        }

        try
        {
            _breaker.Execute(static c => RunPrimary(c), call);
            return false;
        }
        catch (Exception ex) when (IsDeviceFailure(ex))
        {
            _fallback!.Value.Run(runOptions, inputs, outputs);
            return true;
        }
    }

    public void Dispose()
    {
        _primary?.Dispose();
        if (_fallback is { IsValueCreated: true })
        {
            _fallback.Value.Dispose();
        }
    }

    /// <summary>The failures the breaker counts and the fallback absorbs.</summary>
    public static bool IsDeviceFailure(Exception ex) => ex is OnnxRuntimeException or InjectedExpertFaultException or BrokenCircuitException;

    private static void RunPrimary(Call c)
    {
        c.Self._faults?.BeforeRun(c.Self.Layer, c.Self.Expert, c.Self.Device);
        (c.Self._primary ?? throw new InvalidOperationException("A managed expert has no session.")).Run(c.RunOptions, c.Inputs, c.Outputs);
    }

    private readonly record struct Call(ExpertExecutor Self, RunOptions RunOptions, OrtValue[] Inputs, OrtValue[] Outputs);
}
