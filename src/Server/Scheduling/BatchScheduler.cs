using System.Threading.Channels;
using MoeServe.Router;
using MoeServe.Runtime;
using MoeServe.Runtime.Caching;
using MoeServe.Runtime.Generation;
using MoeServe.Runtime.Sampling;
using MoeServe.Server.Dashboard;

namespace MoeServe.Server.Scheduling;

/// <summary>Result of offering a job to the waiting queue.</summary>
public enum AdmissionResult
{
    /// <summary>Queued; events will follow.</summary>
    Accepted,

    /// <summary>The waiting queue is full (429).</summary>
    QueueFull,

    /// <summary>Not ready or draining (503).</summary>
    NotReady,
}

/// <summary>
/// Continuous batching. One loop owns the engine's steps: each step it admits waiting jobs up to the
/// batch limit, drops cancelled ones (disposing their KV cache at once), gives every decoding sequence
/// one token and spends the rest of the step's token budget on prefill chunks, runs the whole step
/// through one <see cref="MoeEngine.Forward"/>, samples, and streams text to each job's channel.
/// On shutdown (<see cref="BeginDrain"/>) it keeps serving running and queued jobs until they finish or
/// the drain deadline passes, then ends the rest with <see cref="JobOutcome.Shutdown"/>.
/// </summary>
public sealed partial class BatchScheduler : BackgroundService
{
    private readonly ModelHost _model;
    private readonly ServerOptions _options;
    private readonly ServerState _state;
    private readonly ServerMetrics _metrics;
    private readonly DashboardRecorder _dashboard;
    private readonly TimeProvider _time;
    private readonly ILogger<BatchScheduler> _logger;
    private readonly Channel<GenerationJob> _waiting;
    private readonly List<ActiveSequence> _active = [];
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _drainSignal = new();

    // Running and waiting jobs are counted under one lock, so that admission sees their sum exactly
    // (a job moving from the queue into the batch is never counted twice or not at all).
    private readonly Lock _admission = new();
    private readonly int _capacity;
    private int _waitingCount;
    private int _runningCount;
    private bool _closed;
    private long _drainDeadline;

    /// <summary>Creates the scheduler.</summary>
    public BatchScheduler(ModelHost model, ServerOptions options, ServerState state, ServerMetrics metrics, DashboardRecorder dashboard, TimeProvider time, ILogger<BatchScheduler> logger)
    {
        _model = model;
        _options = options;
        _state = state;
        _metrics = metrics;
        _dashboard = dashboard;
        _time = time;
        _logger = logger;
        _capacity = options.MaxBatchSequences + options.MaxWaitingRequests;
        // The channel may also hold cancelled jobs that no longer count (they left the queue when
        // cancelled, the channel drops them when read): the limit on live jobs is _capacity; the
        // channel's own bound only stops a flood of cancelled ones.
        _waiting = Channel.CreateBounded<GenerationJob>(new BoundedChannelOptions(Math.Max(1, 4 * _capacity))
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>Requests waiting for a slot.</summary>
    public int WaitingCount => Volatile.Read(ref _waitingCount);

    /// <summary>Requests in the running batch.</summary>
    public int RunningCount => Volatile.Read(ref _runningCount);

    /// <summary>Completes when the loop has ended: every job it accepted has its final event.</summary>
    public Task Drained => _drained.Task;

    /// <summary>Offers a job to the bounded waiting queue; never blocks.</summary>
    public AdmissionResult TryEnqueue(GenerationJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (!_state.IsReady)
        {
            return AdmissionResult.NotReady;
        }

        lock (_admission)
        {
            if (_closed)
            {
                return AdmissionResult.NotReady;
            }

            // MaxWaitingRequests = 0 means no queue: only a free batch slot admits.
            if (_runningCount + _waitingCount >= _capacity || !_waiting.Writer.TryWrite(job))
            {
                return AdmissionResult.QueueFull;
            }

            _waitingCount++;
        }

        // A client that gives up while waiting frees its queue place at once, not when reached.
        // Registered after the write: if the scheduler takes the job first, the callback may still
        // run later and finds the job already out of the queue (TryLeaveQueue), which is harmless.
        job.QueueRegistration = job.CancellationToken.Register(static state =>
        {
            var (scheduler, waitingJob) = ((BatchScheduler, GenerationJob))state!;
            if (waitingJob.TryLeaveQueue())
            {
                scheduler.CountOut(waiting: 1, running: 0);
            }
        }, (this, job));
        _metrics.RequestsWaiting.Set(WaitingCount);
        return AdmissionResult.Accepted;
    }

    /// <summary>
    /// Starts the drain: from now on no job is accepted; running and queued ones get until
    /// DrainTimeoutSeconds to finish. Safe to call more than once and from any thread.
    /// </summary>
    public void BeginDrain()
    {
        int running, waiting;
        lock (_admission)
        {
            if (_drainDeadline != 0)
            {
                return;
            }

            Volatile.Write(ref _drainDeadline, _time.GetTimestamp() + (long)(_options.DrainTimeoutSeconds * _time.TimestampFrequency));
            running = _runningCount;
            waiting = _waitingCount;
        }

        LogDraining(running, waiting, _options.DrainTimeoutSeconds);
        _drainSignal.Cancel();
    }

    private void CountOut(int waiting, int running)
    {
        lock (_admission)
        {
            _waitingCount -= waiting;
            _runningCount -= running;
        }

        _metrics.RequestsWaiting.Set(WaitingCount);
    }

    /// <inheritdoc/>
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(() => Run(stoppingToken), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();

    private async Task Run(CancellationToken stoppingToken)
    {
        try
        {
            await Serve(stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            lock (_admission)
            {
                _closed = true;
            }

            _drained.TrySetResult();
        }
    }

    private async Task Serve(CancellationToken stoppingToken)
    {
        var engine = _model.Engine;
        _dashboard.Initialise(_model.ServedModelName, RoutingPolicyFactory.NameOf(_options.RoutingPolicy), engine.Config.Layers, engine.Config.Experts, engine.Config.TopK, _model.ServedQ?.ToString() ?? "");
        _state.Set(ServerPhase.Ready);
        _metrics.Ready.Set(1);
        var sampler = new Sampler(engine.VocabSize);
        var statistics = engine.CreateStatistics();
        var items = new ForwardItem[_options.MaxBatchSequences];
        var owners = new ActiveSequence?[_options.MaxBatchSequences];
        var samples = new bool[_options.MaxBatchSequences];
        var logits = new float[_options.MaxBatchSequences * engine.VocabSize];
        var top = new TokenLogprob[20];

        while (true)
        {
            if (stoppingToken.IsCancellationRequested)
            {
                // Stopped without the lifetime's stopping signal (a host that failed to start): no drain to wait for.
                lock (_admission)
                {
                    _closed = true;
                }

                FailEverything(JobOutcome.Shutdown);
                return;
            }

            var drainDeadline = Interlocked.Read(ref _drainDeadline);
            if (drainDeadline != 0 && _time.GetTimestamp() >= drainDeadline)
            {
                lock (_admission)
                {
                    _closed = true;
                }

                FailEverything(JobOutcome.Shutdown);
                return;
            }

            Admit(engine);
            DropCancelled();
            PublishCounts();
            if (_active.Count == 0)
            {
                if (drainDeadline != 0)
                {
                    lock (_admission)
                    {
                        _closed = _waitingCount == 0;
                    }

                    if (_closed)
                    {
                        return;
                    }
                }

                try
                {
                    // Sleep until work arrives or the drain starts; during a drain, poll so the deadline is honoured.
                    using var wake = drainDeadline != 0 ? new CancellationTokenSource(TimeSpan.FromMilliseconds(50)) : CancellationTokenSource.CreateLinkedTokenSource(_drainSignal.Token, stoppingToken);
                    await _waiting.Reader.WaitToReadAsync(wake.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }

                continue;
            }

            var count = BuildStep(items, owners, samples);
            try
            {
                var started = _time.GetTimestamp();
                engine.Forward(items.AsSpan(0, count), logits, statistics);
                var stepSeconds = _time.GetElapsedTime(started).TotalSeconds;
                var generated = 0;
                for (var i = 0; i < count; i++)
                {
                    if (samples[i])
                    {
                        generated += Emit(owners[i]!, logits.AsSpan(i * engine.VocabSize, engine.VocabSize), sampler, top);
                    }
                }

                _metrics.RecordStep(statistics, stepSeconds);
                _dashboard.RecordStep(statistics, generated);
                if (_model.RoutingBiasIsLive)
                {
                    _model.PublishRouterBias();
                }
            }
            catch (Exception e)
            {
                // One bad step must not kill the loop: its requests end with an error, the rest go on.
                LogStepFailed(e, count, string.Join(", ", _active.Where(a => !a.Finished).Select(a => a.Job.TraceId)));
                FailEverything(JobOutcome.Error);
            }
            finally
            {
                Array.Clear(items, 0, count);
                Array.Clear(owners, 0, count);
            }

            RemoveFinished();
        }
    }

    private void Admit(MoeEngine engine)
    {
        while (_active.Count < _options.MaxBatchSequences && _waiting.Reader.TryRead(out var job))
        {
            job.QueueRegistration.Dispose();
            if (!job.TryLeaveQueue())
            {
                // Its cancellation already took it out of the count.
                Complete(job, JobOutcome.Cancelled, 0);
                continue;
            }

            if (job.CancellationToken.IsCancellationRequested)
            {
                CountOut(waiting: 1, running: 0);
                Complete(job, JobOutcome.Cancelled, 0);
                continue;
            }

            var now = _time.GetTimestamp();
            _metrics.QueueTime.Observe(_time.GetElapsedTime(job.EnqueuedTimestamp, now).TotalSeconds);
            KvCache cache;
            try
            {
                cache = engine.CreateCache();
            }
            catch (InvalidOperationException e)
            {
                LogStepFailed(e, 1, job.TraceId);
                CountOut(waiting: 1, running: 0);
                Complete(job, JobOutcome.Error, 0);
                continue;
            }

            lock (_admission)
            {
                _waitingCount--;
                _runningCount++;
            }

            _active.Add(new ActiveSequence(job, cache, engine, now));
            _metrics.PromptTokens.Inc(job.PromptTokens.Length);
        }
    }

    private void DropCancelled()
    {
        foreach (var sequence in _active)
        {
            if (!sequence.Finished && sequence.Job.CancellationToken.IsCancellationRequested)
            {
                sequence.Finished = true;
                Complete(sequence.Job, JobOutcome.Cancelled, sequence.Generated);
            }
        }

        RemoveFinished();
    }

    private int BuildStep(ForwardItem[] items, ActiveSequence?[] owners, bool[] samples)
    {
        var count = 0;
        var budget = _options.MaxStepTokens;

        // Decoding sequences first: one token each, so a long prompt never stalls them.
        foreach (var sequence in _active)
        {
            if (!sequence.IsPrefilling)
            {
                items[count] = new ForwardItem(sequence.Cache, sequence.DecodeToken(sequence.LastToken));
                owners[count] = sequence;
                samples[count] = true;
                count++;
                budget--;
            }
        }

        // Prefill chunks in arrival order with what is left of the budget.
        foreach (var sequence in _active)
        {
            if (budget <= 0)
            {
                break;
            }

            if (sequence.IsPrefilling)
            {
                var chunk = sequence.NextPrefillChunk(Math.Min(budget, _options.PrefillChunkTokens), out var completes);
                items[count] = new ForwardItem(sequence.Cache, chunk);
                owners[count] = sequence;
                samples[count] = completes;
                count++;
                budget -= chunk.Length;
            }
        }

        return count;
    }

    // Samples one token for a sequence and sends the resulting text; returns 1 when a token was generated.
    private int Emit(ActiveSequence sequence, ReadOnlySpan<float> logits, Sampler sampler, TokenLogprob[] top)
    {
        var job = sequence.Job;
        var parameters = job.Sampling;
        var alternatives = top.AsSpan(0, Math.Min(parameters.TopLogprobs, top.Length));
        var chosen = sampler.Sample(logits, parameters, sequence.Random, alternatives);
        var now = _time.GetTimestamp();
        if (sequence.Generated == 0)
        {
            _metrics.TimeToFirstToken.Observe(_time.GetElapsedTime(job.EnqueuedTimestamp, now).TotalSeconds);
        }
        else
        {
            _metrics.InterTokenLatency.Observe(_time.GetElapsedTime(sequence.LastTokenTimestamp, now).TotalSeconds);
        }

        sequence.LastTokenTimestamp = now;
        var step = sequence.Output.Append(chosen, alternatives);
        if (step.Counted)
        {
            _metrics.GenerationTokens.Inc();
            GeneratedToken? token = step.Logprobs is { } logprobs ? new GeneratedToken(chosen.TokenId, logprobs.Text, logprobs.Logprob, logprobs.Top) : null;
            job.Writer.TryWrite(new GenerationEvent(step.Text, token, null, sequence.Generated));
        }

        if (step.Finish is not null)
        {
            Finish(sequence);
        }
        else
        {
            sequence.LastToken = chosen.TokenId;
        }

        return step.Counted ? 1 : 0;
    }

    private void Finish(ActiveSequence sequence)
    {
        // Text held back as a possible stop prefix (or a partial character) belongs to the output,
        // and may itself complete a stop string, which makes the finish "stop" rather than "length".
        var rest = sequence.Output.Flush();
        if (rest.Length > 0)
        {
            sequence.Job.Writer.TryWrite(new GenerationEvent(rest, null, null, sequence.Generated));
        }

        sequence.Finished = true;
        var outcome = sequence.Output.FinishReason == FinishReason.Stop ? JobOutcome.Stop : JobOutcome.Length;
        Complete(sequence.Job, outcome, sequence.Generated);
    }

    private void Complete(GenerationJob job, JobOutcome outcome, int generated)
    {
        job.Writer.TryWrite(new GenerationEvent("", null, outcome, generated));
        job.Writer.TryComplete();
        _metrics.RequestsByFinishReason.WithLabels(outcome.ToString().ToLowerInvariant()).Inc();
        _metrics.EndToEndLatency.Observe(_time.GetElapsedTime(job.EnqueuedTimestamp).TotalSeconds);
    }

    private void RemoveFinished()
    {
        var removed = 0;
        for (var i = _active.Count - 1; i >= 0; i--)
        {
            if (_active[i].Finished)
            {
                // Disposing returns the KV cache's buffers to the engine's pool right away.
                _active[i].Dispose();
                _active.RemoveAt(i);
                removed++;
            }
        }

        if (removed > 0)
        {
            CountOut(waiting: 0, running: removed);
        }

        PublishCounts();
    }

    private void FailEverything(JobOutcome outcome)
    {
        foreach (var sequence in _active)
        {
            if (!sequence.Finished)
            {
                sequence.Finished = true;
                Complete(sequence.Job, outcome, sequence.Generated);
            }
        }

        RemoveFinished();
        if (outcome == JobOutcome.Shutdown)
        {
            while (_waiting.Reader.TryRead(out var job))
            {
                job.QueueRegistration.Dispose();
                if (job.TryLeaveQueue())
                {
                    CountOut(waiting: 1, running: 0);
                }

                Complete(job, outcome, 0);
            }
        }
    }

    private void PublishCounts()
    {
        _metrics.RequestsRunning.Set(RunningCount);
        _metrics.RequestsWaiting.Set(WaitingCount);
        _metrics.KvCachesLive.Set(_model.LiveCacheCount);
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        base.Dispose();
        _drainSignal.Dispose();
    }

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "An engine step over {Sequences} sequences failed; their requests end with an error (trace ids {TraceIds})")]
    private partial void LogStepFailed(Exception exception, int sequences, string traceIds);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Draining: {Running} running and {Waiting} waiting requests get up to {Seconds} s to finish")]
    private partial void LogDraining(int running, int waiting, double seconds);
}
