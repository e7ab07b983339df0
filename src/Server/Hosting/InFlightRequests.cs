namespace MoeServe.Server.Hosting;

/// <summary>
/// Counts HTTP requests inside the pipeline, so shutdown can wait for the last response to be
/// written before the web server stops: Kestrel resets whatever is still open when it stops.
/// </summary>
public sealed class InFlightRequests
{
    private readonly Lock _lock = new();
    private int _count;
    private TaskCompletionSource? _idle;

    /// <summary>Requests in the pipeline now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Marks a request as entered; dispose the result when it leaves.</summary>
    public Scope Enter()
    {
        lock (_lock)
        {
            _count++;
        }

        return new Scope(this);
    }

    /// <summary>Completes once no request is in the pipeline.</summary>
    public Task WhenIdleAsync()
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                return Task.CompletedTask;
            }

            _idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _idle.Task;
        }
    }

    private void Leave()
    {
        TaskCompletionSource? idle = null;
        lock (_lock)
        {
            if (--_count == 0)
            {
                idle = _idle;
                _idle = null;
            }
        }

        idle?.TrySetResult();
    }

    /// <summary>One request's stay in the pipeline.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly InFlightRequests _owner;

        internal Scope(InFlightRequests owner) => _owner = owner;

        /// <summary>Marks the request as left.</summary>
        public void Dispose() => _owner?.Leave();
    }
}
