namespace MoeServe.Server.Health;

/// <summary>Lifecycle of the server as readiness reports it.</summary>
public enum ServerPhase
{
    /// <summary>Before the scheduler's loop runs (the model loads before the listener opens, so HTTP rarely sees this).</summary>
    Loading,

    /// <summary>Serving.</summary>
    Ready,

    /// <summary>Shutting down: running requests finish, new ones are refused.</summary>
    Draining,
}

/// <summary>The current <see cref="ServerPhase"/>, shared by the scheduler (writer) and the endpoints (readers).</summary>
public sealed class ServerState
{
    private volatile ServerPhase _phase = ServerPhase.Loading;

    /// <summary>The phase.</summary>
    public ServerPhase Phase => _phase;

    /// <summary>Whether requests are being accepted.</summary>
    public bool IsReady => _phase == ServerPhase.Ready;

    /// <summary>Moves to <paramref name="phase"/>; Draining is final.</summary>
    public void Set(ServerPhase phase)
    {
        if (_phase != ServerPhase.Draining)
        {
            _phase = phase;
        }
    }
}
