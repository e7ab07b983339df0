using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace MoeServe.Server.Tests.Support;

/// <summary>
/// Test middleware, first in the pipeline: counts the requests whose client went away as the server
/// saw it (HttpContext.RequestAborted fired), so a test waits for that event instead of for time.
/// </summary>
public sealed class AbortObserver : IStartupFilter
{
    private readonly Lock _lock = new();
    private readonly List<(int Count, TaskCompletionSource Reached)> _waiters = [];
    private int _aborted;

    /// <summary>Requests seen aborted so far.</summary>
    public int Aborted => Volatile.Read(ref _aborted);

    /// <summary>Completes once <paramref name="count"/> requests in total have been seen aborted.</summary>
    public Task WhenAbortedAsync(int count)
    {
        lock (_lock)
        {
            if (_aborted >= count)
            {
                return Task.CompletedTask;
            }

            var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, reached));
            return reached.Task;
        }
    }

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(async (context, inner) =>
        {
            // Registered before the endpoint's own registrations, so it runs after them (callbacks run
            // last-registered first): when it fires, the request's cancellation has reached the handler.
            using var registration = context.RequestAborted.Register(OnAborted);
            await inner(context);
        });
        next(app);
    };

    private void OnAborted()
    {
        lock (_lock)
        {
            _aborted++;
            foreach (var waiter in _waiters.Where(w => w.Count <= _aborted).ToList())
            {
                waiter.Reached.TrySetResult();
                _waiters.Remove(waiter);
            }
        }
    }
}
