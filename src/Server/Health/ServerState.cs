namespace MoeServe.Server.Health;

/// <summary>Lifecycle of the server as readiness reports it.</summary>
public enum ServerPhase
{
    /// <summary>Loading the model or running the warm-up pass.</summary>
    Loading,

    /// <summary>Serving.</summary>
    Ready,

    /// <summary>Shutting down: running requests finish, new ones are refused.</summary>
    Draining,

    /// <summary>The model could not be loaded.</summary>
    Failed,
}

/// <summary>The current <see cref="ServerPhase"/>, shared by the scheduler (writer) and the endpoints (readers).</summary>
public sealed class ServerState
{
    private volatile ServerPhase _phase = ServerPhase.Loading;
    private volatile string? _detail;

    /// <summary>The phase.</summary>
    public ServerPhase Phase => _phase;

    /// <summary>Why the server is not ready (load error), if known.</summary>
    public string? Detail => _detail;

    /// <summary>Whether requests are being accepted.</summary>
    public bool IsReady => _phase == ServerPhase.Ready;

    /// <summary>Moves to <paramref name="phase"/>; Draining and Failed are final.</summary>
    public void Set(ServerPhase phase, string? detail = null)
    {
        if (_phase is ServerPhase.Draining or ServerPhase.Failed && phase != ServerPhase.Failed)
        {
            return;
        }

        _detail = detail;
        _phase = phase;
    }
}
