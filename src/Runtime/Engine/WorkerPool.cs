using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace MoeServe.Runtime;

/// <summary>One unit of work the pool runs: item index and the worker (0 = calling thread) running it.</summary>
internal interface IWorkBody
{
    void Execute(int item, int worker);
}

/// <summary>
/// A fixed set of threads that run the items of one phase (experts of a layer, or the dense graphs of
/// the step's sequences) concurrently. The calling thread is worker 0 and takes part. Items are taken
/// in the order given (callers pass the largest first: greedy longest-processing-time scheduling).
/// Records each worker's busy seconds. One phase at a time; allocates nothing per phase.
/// </summary>
internal sealed class WorkerPool : IDisposable
{
    private readonly Thread[] _threads;
    private readonly SemaphoreSlim[] _start;
    private readonly CountdownEvent _done;
    private readonly double[] _busy;
    private IWorkBody? _body;
    private int[]? _order;
    private int _count;
    private int _next;
    private bool _stopping;
    private ExceptionDispatchInfo? _failure;

    public WorkerPool(int workers)
    {
        Workers = workers;
        _busy = new double[workers];
        _threads = new Thread[workers - 1];
        _start = new SemaphoreSlim[workers - 1];
        _done = new CountdownEvent(1);
        for (int i = 0; i < _threads.Length; i++)
        {
            int worker = i + 1;
            _start[i] = new SemaphoreSlim(0);
            _threads[i] = new Thread(() => Loop(worker)) { IsBackground = true, Name = $"moe-worker-{worker}" };
            _threads[i].Start();
        }
    }

    public int Workers { get; }

    /// <summary>Busy seconds of each worker in the last <see cref="Run"/>.</summary>
    public ReadOnlySpan<double> BusySeconds => _busy;

    /// <summary>
    /// Runs body.Execute(order[i], worker) for i in [0, count); returns when all are done; rethrows the
    /// first failure. With <paramref name="inline"/> the calling thread does everything (tiny phases:
    /// waking a helper would cost more than the work).
    /// </summary>
    public void Run(IWorkBody body, int[] order, int count, bool inline = false)
    {
        Array.Clear(_busy);
        if (count == 0)
        {
            return;
        }

        _body = body;
        _order = order;
        _count = count;
        _next = 0;
        _failure = null;
        int helpers = inline ? 0 : Math.Min(_threads.Length, count - 1);
        if (helpers > 0)
        {
            _done.Reset(helpers);
            for (int i = 0; i < helpers; i++)
            {
                _start[i].Release();
            }
        }

        Work(0);
        if (helpers > 0)
        {
            _done.Wait();
        }

        _body = null;
        _order = null;
        _failure?.Throw();
    }

    public void Dispose()
    {
        _stopping = true;
        foreach (var s in _start)
        {
            s.Release();
        }

        foreach (var t in _threads)
        {
            t.Join();
        }

        foreach (var s in _start)
        {
            s.Dispose();
        }

        _done.Dispose();
    }

    private void Loop(int worker)
    {
        var start = _start[worker - 1];
        while (true)
        {
            start.Wait();
            if (_stopping)
            {
                return;
            }

            Work(worker);
            _done.Signal();
        }
    }

    private void Work(int worker)
    {
        var body = _body!;
        var order = _order!;
        double busy = 0;
        while (true)
        {
            int i = Interlocked.Increment(ref _next) - 1;
            if (i >= _count || Volatile.Read(ref _failure) is not null)
            {
                break;
            }

            long t0 = Stopwatch.GetTimestamp();
            try
            {
                body.Execute(order[i], worker);
            }
            catch (Exception ex)
            {
                Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(ex), null);
            }

            busy += Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }

        _busy[worker] = busy;
    }
}
