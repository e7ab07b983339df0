using MoeServe.Server.Scheduling;

namespace MoeServe.Server.Hosting;

/// <summary>
/// Shutdown as a load balancer expects it. At the stopping signal (SIGTERM, Ctrl+C) readiness turns
/// 503 at once and the scheduler starts its drain. The host then calls <see cref="StoppingAsync"/>
/// before it stops any service, so this holds the web server open, still accepting connections and
/// answering new generation requests with 503 + Retry-After, until the grace period has passed, the
/// drain is over and the last response is written. Only then does Kestrel stop, with nothing left to
/// reset.
/// </summary>
public sealed partial class ShutdownCoordinator : IHostedLifecycleService, IDisposable
{
    // After the drain, responses already produced still need to reach their sockets; a client that
    // stalls its own request (a body never finished) is not waited for beyond this.
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(5);

    private readonly IHostApplicationLifetime _lifetime;
    private readonly BatchScheduler _scheduler;
    private readonly ServerState _state;
    private readonly ServerMetrics _metrics;
    private readonly InFlightRequests _inFlight;
    private readonly ServerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<ShutdownCoordinator> _logger;
    private CancellationTokenRegistration _stopping;
    private long _signalled;

    /// <summary>Creates the coordinator.</summary>
    public ShutdownCoordinator(IHostApplicationLifetime lifetime, BatchScheduler scheduler, ServerState state, ServerMetrics metrics, InFlightRequests inFlight, ServerOptions options, TimeProvider time, ILogger<ShutdownCoordinator> logger)
    {
        _lifetime = lifetime;
        _scheduler = scheduler;
        _state = state;
        _metrics = metrics;
        _inFlight = inFlight;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>The host's shutdown timeout that leaves room for the grace period and the drain.</summary>
    public static TimeSpan HostShutdownTimeout(ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return TimeSpan.FromSeconds(Math.Max(options.ShutdownGraceSeconds, options.DrainTimeoutSeconds) + 2 * SettleTimeout.TotalSeconds);
    }

    /// <inheritdoc/>
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _stopping = _lifetime.ApplicationStopping.Register(static self => ((ShutdownCoordinator)self!).Signal(), this);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Waits for the grace period, the drain and the last in-flight response, in that overlap.</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        Signal();
        var grace = TimeSpan.FromSeconds(_options.ShutdownGraceSeconds) - _time.GetElapsedTime(Interlocked.Read(ref _signalled));
        try
        {
            if (grace > TimeSpan.Zero)
            {
                await Task.Delay(grace, _time, cancellationToken).ConfigureAwait(false);
            }

            await _scheduler.Drained.WaitAsync(cancellationToken).ConfigureAwait(false);
            await _inFlight.WhenIdleAsync().WaitAsync(SettleTimeout, _time, cancellationToken).ConfigureAwait(false);
            LogStopped(_time.GetElapsedTime(Interlocked.Read(ref _signalled)).TotalSeconds);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            LogGaveUp(_inFlight.Count);
        }
    }

    /// <inheritdoc/>
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public void Dispose() => _stopping.Dispose();

    private void Signal()
    {
        if (Interlocked.CompareExchange(ref _signalled, _time.GetTimestamp(), 0) != 0)
        {
            return;
        }

        _state.Set(ServerPhase.Draining);
        _metrics.Ready.Set(0);
        LogSignalled(_options.ShutdownGraceSeconds);
        _scheduler.BeginDrain();
    }

    [LoggerMessage(EventId = 40, Level = LogLevel.Information, Message = "Shutting down: readiness is 503 now; the listener stays open for at least {Grace} s while requests drain")]
    private partial void LogSignalled(double grace);

    [LoggerMessage(EventId = 41, Level = LogLevel.Information, Message = "Drained in {Seconds:0.00} s; stopping the listener")]
    private partial void LogStopped(double seconds);

    [LoggerMessage(EventId = 42, Level = LogLevel.Warning, Message = "Shutdown did not settle in time; stopping the listener with {Requests} requests still open")]
    private partial void LogGaveUp(int requests);
}
