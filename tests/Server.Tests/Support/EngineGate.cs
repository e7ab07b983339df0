using MoeServe.Runtime.Experts;

namespace MoeServe.Server.Tests.Support;

/// <summary>
/// Test seam on the runtime's fault-injection hook: when closed, every expert Run blocks until the
/// gate opens (the engine step stalls, so requests pile up deterministically); can also throw to
/// simulate a failing device.
/// </summary>
public sealed class EngineGate : IExpertFaultInjector, IDisposable
{
    private readonly ManualResetEventSlim _open = new(initialState: true);
    private TaskCompletionSource _blocked = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _throwing;
    private int _crashing;
    private long _runs;
    private int _delayMilliseconds;

    /// <summary>Expert Runs seen.</summary>
    public long Runs => Interlocked.Read(ref _runs);

    /// <summary>Makes every following expert Run wait.</summary>
    public void Close()
    {
        Volatile.Write(ref _blocked, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        _open.Reset();
    }

    /// <summary>Completes when an expert Run waits at the gate closed by the last <see cref="Close"/>: the engine step is stalled there.</summary>
    public Task WhenRunBlockedAsync() => Volatile.Read(ref _blocked).Task;

    /// <summary>Lets expert Runs proceed.</summary>
    public void Open() => _open.Set();

    /// <summary>Whether expert Runs on their primary session throw.</summary>
    public bool Throwing
    {
        get => Volatile.Read(ref _throwing) == 1;
        set => Volatile.Write(ref _throwing, value ? 1 : 0);
    }

    /// <summary>Whether expert Runs throw an error no fallback absorbs, so the whole engine step fails.</summary>
    public bool Crashing
    {
        get => Volatile.Read(ref _crashing) == 1;
        set => Volatile.Write(ref _crashing, value ? 1 : 0);
    }

    /// <summary>Milliseconds every expert Run sleeps (0: none), so work outlasts a short drain window.</summary>
    public int DelayMilliseconds
    {
        get => Volatile.Read(ref _delayMilliseconds);
        set => Volatile.Write(ref _delayMilliseconds, value);
    }

    public void BeforeRun(int layer, int expert, int deviceId)
    {
        Interlocked.Increment(ref _runs);
        if (DelayMilliseconds > 0)
        {
            Thread.Sleep(DelayMilliseconds);
        }

        if (!_open.IsSet)
        {
            Volatile.Read(ref _blocked).TrySetResult();
        }

        if (!_open.Wait(TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException("The test never opened the engine gate.");
        }

        if (Crashing)
        {
            throw new InvalidOperationException("Injected engine crash.");
        }

        if (Throwing)
        {
            throw new InjectedExpertFaultException($"Injected failure of device {deviceId} (layer {layer}, expert {expert}).");
        }
    }

    public void Dispose()
    {
        _open.Set();
        _open.Dispose();
    }
}
