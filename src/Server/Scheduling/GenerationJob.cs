using System.Threading.Channels;
using MoeServe.Runtime.Sampling;

namespace MoeServe.Server.Scheduling;

/// <summary>Why a job ended, beyond OpenAI's stop/length.</summary>
public enum JobOutcome
{
    /// <summary>A stop sequence or the end-of-text token.</summary>
    Stop,

    /// <summary>max_tokens or the context length.</summary>
    Length,

    /// <summary>The client went away or the request was cancelled.</summary>
    Cancelled,

    /// <summary>The request's deadline passed.</summary>
    Timeout,

    /// <summary>The server shut down before the job finished.</summary>
    Shutdown,

    /// <summary>The engine failed.</summary>
    Error,
}

/// <summary>One generated token as the client sees it.</summary>
/// <param name="TokenId">Token id.</param>
/// <param name="Text">The token's own text (for logprobs).</param>
/// <param name="Logprob">Its log-probability.</param>
/// <param name="Top">The most likely alternatives (empty unless logprobs were asked for).</param>
public sealed record GeneratedToken(int TokenId, string Text, float Logprob, IReadOnlyList<(string Text, float Logprob)> Top);

/// <summary>What the scheduler sends a request: new text (and the token that produced it), then one final event.</summary>
/// <param name="Text">Text that is now safe to show (may be empty).</param>
/// <param name="Token">The token behind it; null for a flush or the final event.</param>
/// <param name="Outcome">Set on the final event only.</param>
/// <param name="CompletionTokens">Tokens generated so far (on the final event: all).</param>
public readonly record struct GenerationEvent(string Text, GeneratedToken? Token, JobOutcome? Outcome, int CompletionTokens);

/// <summary>A request handed to the scheduler: its prompt tokens, sampling, deadline and the channel its events arrive on.</summary>
public sealed class GenerationJob
{
    private readonly Channel<GenerationEvent> _events = Channel.CreateUnbounded<GenerationEvent>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true, AllowSynchronousContinuations = false });

    private int _leftQueue;

    /// <summary>Creates a job.</summary>
    public GenerationJob(int[] promptTokens, SamplingParameters sampling, CancellationToken cancellationToken, long enqueuedTimestamp)
    {
        ArgumentNullException.ThrowIfNull(promptTokens);
        ArgumentNullException.ThrowIfNull(sampling);
        PromptTokens = promptTokens;
        Sampling = sampling;
        CancellationToken = cancellationToken;
        EnqueuedTimestamp = enqueuedTimestamp;
    }

    /// <summary>The prompt as token ids (at least one).</summary>
    public int[] PromptTokens { get; }

    /// <summary>Sampling, max tokens, stop strings, top logprobs.</summary>
    public SamplingParameters Sampling { get; }

    /// <summary>Whether each token's text and log-probability are sent (logprobs asked for).</summary>
    public bool WantsLogprobs { get; init; }

    /// <summary>The HTTP request's trace id: logged with any failure of this job and returned in its 500.</summary>
    public string TraceId { get; init; } = "";

    /// <summary>Cancelled when the client disconnects or the deadline passes.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>TimeProvider timestamp of arrival.</summary>
    public long EnqueuedTimestamp { get; }

    /// <summary>Events for the request handler.</summary>
    public ChannelReader<GenerationEvent> Events => _events.Reader;

    internal ChannelWriter<GenerationEvent> Writer => _events.Writer;

    /// <summary>Unregisters the queue's cancellation callback once the job leaves the queue.</summary>
    internal CancellationTokenRegistration QueueRegistration { get; set; }

    /// <summary>
    /// Marks the job as no longer counted in the waiting queue; true for the first caller only (the
    /// scheduler taking it, or its cancellation while it waits), so the count drops exactly once.
    /// </summary>
    internal bool TryLeaveQueue() => Interlocked.Exchange(ref _leftQueue, 1) == 0;
}
