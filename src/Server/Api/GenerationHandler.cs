using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using MoeServe.Runtime.Sampling;
using MoeServe.Server.Scheduling;
using Polly;
using Polly.Timeout;

namespace MoeServe.Server.Api;

/// <summary>
/// POST /v1/completions and /v1/chat/completions: validates, tokenizes, hands the job to the
/// <see cref="BatchScheduler"/>, and writes the events back as one JSON response or as server-sent
/// events. A Polly timeout bounds each request; a client disconnect cancels its job.
/// </summary>
public sealed class GenerationHandler
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    private readonly ModelHost _model;
    private readonly BatchScheduler _scheduler;
    private readonly ServerOptions _options;
    private readonly ServerState _state;
    private readonly TimeProvider _time;
    private readonly ResiliencePipeline _timeout;

    /// <summary>Creates the handler.</summary>
    public GenerationHandler(ModelHost model, BatchScheduler scheduler, ServerOptions options, ServerState state, TimeProvider time)
    {
        _model = model;
        _scheduler = scheduler;
        _options = options;
        _state = state;
        _time = time;
        _timeout = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddTimeout(TimeSpan.FromSeconds(options.RequestTimeoutSeconds))
            .Build();
    }

    /// <summary>Handles one request end to end.</summary>
    public async Task HandleAsync(HttpContext context, EndpointKind kind)
    {
        ArgumentNullException.ThrowIfNull(context);
        var arrived = _time.GetTimestamp();
        var body = await ReadBodyWhenReadyAsync(context, _model, _state, _options).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        var (spec, parseError) = kind == EndpointKind.Completion ? RequestParser.ParseCompletion(body) : RequestParser.ParseChat(body);
        var (prepared, prepareError) = spec is null ? (null, parseError) : Prepare(spec);
        if (prepared is null)
        {
            await WriteErrorAsync(context, prepareError!).ConfigureAwait(false);
            return;
        }

        try
        {
            await _timeout.ExecuteAsync(
                async token => await RunAsync(context, prepared, arrived, token).ConfigureAwait(false),
                context.RequestAborted).ConfigureAwait(false);
        }
        catch (TimeoutRejectedException)
        {
            var error = ApiError.Timeout(TimeSpan.FromSeconds(_options.RequestTimeoutSeconds));
            if (!context.Response.HasStarted)
            {
                await WriteErrorAsync(context, error).ConfigureAwait(false);
            }
            else
            {
                await WriteStreamErrorAsync(context, error).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
        {
            // The client went away; its job was cancelled with the same token.
        }
    }

    private Task WriteNotReadyAsync(HttpContext context) => WriteNotReadyAsync(context, _state, _options);

    /// <summary>
    /// The request body, or null after an error response: 503 while the server is not ready (<see cref="WriteNotReadyAsync(HttpContext, ServerState, ServerOptions)"/>),
    /// 413 when it is too large, 400 when it cannot be read. Every POST endpoint starts with it.
    /// </summary>
    internal static async Task<byte[]?> ReadBodyWhenReadyAsync(HttpContext context, ModelHost model, ServerState state, ServerOptions options)
    {
        if (!state.IsReady || !model.IsLoaded)
        {
            await WriteNotReadyAsync(context, state, options).ConfigureAwait(false);
            return null;
        }

        var (body, error) = await RequestBodyReader.ReadAsync(context.Request, options.MaxRequestBodyBytes, context.RequestAborted).ConfigureAwait(false);
        if (error is not null)
        {
            await WriteErrorAsync(context, error).ConfigureAwait(false);
            return null;
        }

        return body;
    }

    /// <summary>503 with Retry-After: a draining server is one of several behind a balancer, so the client should go again.</summary>
    internal static Task WriteNotReadyAsync(HttpContext context, ServerState state, ServerOptions options)
    {
        context.Response.Headers.RetryAfter = options.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        return WriteErrorAsync(context, state.Phase == ServerPhase.Draining
            ? ApiError.Unavailable("The server is shutting down; retry on another instance.")
            : ApiError.Unavailable("The model is still loading; retry when /health/ready says ready."));
    }

    private (PreparedRequest? Prepared, ApiError? Error) Prepare(GenerationSpec spec)
    {
        var served = _model.ServedModelName;
        if (spec.Model is { } requested && !string.Equals(requested, served, StringComparison.Ordinal))
        {
            return (null, ApiError.ModelNotFound(requested, served));
        }

        var engine = _model.Engine;
        var context = _model.ContextLength;
        int[] prompt;
        string promptText;
        var promptParam = "prompt";
        var stop = spec.Stop;
        if (spec.Kind == EndpointKind.Chat)
        {
            promptParam = "messages";
            // The model's own chat template (from its manifest: the Jinja one when it has one); its stop strings end the reply.
            var (rendered, renderError) = PromptTokens.FromMessages(_model, spec.Messages!, addGenerationPrompt: true, maxTokens: context);
            if (rendered is null)
            {
                return (null, renderError);
            }

            (promptText, prompt) = (rendered.Text, rendered.Ids);
            stop = [.. spec.Stop, .. _model.ChatPrompt.StopStrings.Where(s => !spec.Stop.Contains(s))];
        }
        else if (spec.PromptTokens is { } ids)
        {
            if (PromptTokens.FindOutOfVocabulary(ids, engine.VocabSize, "prompt") is { } outside)
            {
                return (null, outside);
            }

            prompt = [.. ids];
            promptText = engine.Tokenizer.Decode(prompt) ?? "";
        }
        else
        {
            (promptText, prompt) = PromptTokens.FromText(engine, spec.PromptText!, maxTokens: context);
        }

        if (prompt.Length == 0)
        {
            return (null, ApiError.Invalid($"'{promptParam}' encodes to no tokens.", promptParam));
        }

        if (prompt.Length >= context)
        {
            // Text prompts are encoded only up to the context length (a huge prompt costs no more than a full one).
            var count = spec.PromptTokens is null ? $"{context} or more" : $"{prompt.Length}";
            return (null, ApiError.Invalid($"'{promptParam}' has {count} tokens; the context length is {context}, so at most {context - 1} prompt tokens fit.", promptParam, "context_length_exceeded"));
        }

        var room = context - prompt.Length;
        if (spec.MaxTokens is { } asked && asked > room)
        {
            string param = spec.MaxTokensParam;
            return (null, ApiError.Invalid($"'{param}' is {asked} but the prompt has {prompt.Length} tokens and the context length is {context}: at most {room} tokens can be generated.", param, "context_length_exceeded"));
        }

        var maxTokens = spec.MaxTokens ?? (spec.Kind == EndpointKind.Chat ? room : Math.Min(_options.DefaultMaxTokens, room));
        var sampling = new SamplingParameters
        {
            Temperature = spec.Temperature ?? _options.DefaultTemperature,
            TopP = spec.TopP ?? _options.DefaultTopP,
            TopK = spec.TopK ?? _options.DefaultTopK,
            Seed = spec.Seed is { } seed ? unchecked((int)(seed ^ (seed >> 32))) : null,
            MaxTokens = maxTokens,
            Stop = stop,
            TopLogprobs = spec.Logprobs ?? 0,
            StopAtEndOfText = !spec.IgnoreEos,
        };
        var problems = sampling.Validate();
        if (problems.Count > 0)
        {
            return (null, ApiError.Invalid(string.Join(" ", problems), null));
        }

        return (new PreparedRequest(spec, prompt, promptText, sampling, served), null);
    }

    private async Task RunAsync(HttpContext context, PreparedRequest request, long arrived, CancellationToken token)
    {
        var job = new GenerationJob(request.Prompt, request.Sampling, token, arrived) { WantsLogprobs = request.Spec.Logprobs is not null, TraceId = context.TraceIdentifier };
        switch (_scheduler.TryEnqueue(job))
        {
            case AdmissionResult.QueueFull:
                context.Response.Headers.RetryAfter = _options.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                await WriteErrorAsync(context, ApiError.Overloaded(_scheduler.WaitingCount)).ConfigureAwait(false);
                return;
            case AdmissionResult.NotReady:
                await WriteNotReadyAsync(context).ConfigureAwait(false);
                return;
        }

        var id = (request.Spec.Kind == EndpointKind.Chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
        var created = _time.GetUtcNow().ToUnixTimeSeconds();
        if (request.Spec.Stream)
        {
            await StreamAsync(context, request, job, id, created, token).ConfigureAwait(false);
        }
        else
        {
            await RespondAsync(context, request, job, id, created, token).ConfigureAwait(false);
        }
    }

    private async Task RespondAsync(HttpContext context, PreparedRequest request, GenerationJob job, string id, long created, CancellationToken token)
    {
        var text = new StringBuilder();
        CompletionLogprobsDto? logprobs = request.Spec.Logprobs is null ? null : new CompletionLogprobsDto();
        if (request.Spec.Echo)
        {
            text.Append(request.PromptText);
        }

        var tokenOffset = text.Length;
        JobOutcome outcome = JobOutcome.Error;
        var completionTokens = 0;
        await foreach (var e in job.Events.ReadAllAsync(token).ConfigureAwait(false))
        {
            if (e.Token is { } t && logprobs is not null)
            {
                AddLogprob(logprobs, t, tokenOffset);
                tokenOffset += t.Text.Length;
            }

            text.Append(e.Text);
            if (e.Outcome is { } o)
            {
                outcome = o;
                completionTokens = e.CompletionTokens;
            }
        }

        token.ThrowIfCancellationRequested();
        if (OutcomeError(outcome, job.TraceId) is { } error)
        {
            if (outcome == JobOutcome.Shutdown)
            {
                context.Response.Headers.RetryAfter = _options.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            }

            await WriteErrorAsync(context, error).ConfigureAwait(false);
            return;
        }

        var usage = new UsageDto(request.Prompt.Length, completionTokens, request.Prompt.Length + completionTokens);
        var finish = FinishReason(outcome);
        if (request.Spec.Kind == EndpointKind.Chat)
        {
            var response = new ChatCompletionResponseDto(id, "chat.completion", created, request.Model, [new ChatChoiceDto(0, new ChatMessageOutDto("assistant", text.ToString()), finish)], usage);
            await WriteJsonAsync(context, StatusCodes.Status200OK, response, ServerJsonContext.Default.ChatCompletionResponseDto).ConfigureAwait(false);
        }
        else
        {
            var response = new CompletionResponseDto(id, "text_completion", created, request.Model, [new CompletionChoiceDto(0, text.ToString(), logprobs, finish)], usage);
            await WriteJsonAsync(context, StatusCodes.Status200OK, response, ServerJsonContext.Default.CompletionResponseDto).ConfigureAwait(false);
        }
    }

    private async Task StreamAsync(HttpContext context, PreparedRequest request, GenerationJob job, string id, long created, CancellationToken token)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.StartAsync(token).ConfigureAwait(false);

        var chat = request.Spec.Kind == EndpointKind.Chat;
        var model = request.Model;
        if (chat)
        {
            await WriteEventAsync(context, new ChatCompletionChunkDto(id, "chat.completion.chunk", created, model, [new ChatChunkChoiceDto(0, new ChatMessageOutDto("assistant", ""), null)], null), ServerJsonContext.Default.ChatCompletionChunkDto, token).ConfigureAwait(false);
        }
        else if (request.Spec.Echo)
        {
            await WriteEventAsync(context, new CompletionResponseDto(id, "text_completion", created, model, [new CompletionChoiceDto(0, request.PromptText, null, null)], null), ServerJsonContext.Default.CompletionResponseDto, token).ConfigureAwait(false);
        }

        var offset = request.Spec.Echo ? request.PromptText.Length : 0;
        JobOutcome outcome = JobOutcome.Error;
        var completionTokens = 0;
        await foreach (var e in job.Events.ReadAllAsync(token).ConfigureAwait(false))
        {
            if (e.Outcome is { } o)
            {
                outcome = o;
                completionTokens = e.CompletionTokens;
                continue;
            }

            if (e.Text.Length == 0 && e.Token is null)
            {
                continue;
            }

            if (chat)
            {
                if (e.Text.Length > 0)
                {
                    await WriteEventAsync(context, new ChatCompletionChunkDto(id, "chat.completion.chunk", created, model, [new ChatChunkChoiceDto(0, new ChatMessageOutDto(null, e.Text), null)], null), ServerJsonContext.Default.ChatCompletionChunkDto, token).ConfigureAwait(false);
                }
            }
            else
            {
                CompletionLogprobsDto? logprobs = null;
                if (e.Token is { } t && request.Spec.Logprobs is not null)
                {
                    logprobs = new CompletionLogprobsDto();
                    AddLogprob(logprobs, t, offset);
                    offset += t.Text.Length;
                }

                await WriteEventAsync(context, new CompletionResponseDto(id, "text_completion", created, model, [new CompletionChoiceDto(0, e.Text, logprobs, null)], null), ServerJsonContext.Default.CompletionResponseDto, token).ConfigureAwait(false);
            }
        }

        token.ThrowIfCancellationRequested();
        if (OutcomeError(outcome, job.TraceId) is { } error)
        {
            await WriteStreamErrorAsync(context, error).ConfigureAwait(false);
            return;
        }

        var finish = FinishReason(outcome);
        var usage = new UsageDto(request.Prompt.Length, completionTokens, request.Prompt.Length + completionTokens);
        if (chat)
        {
            await WriteEventAsync(context, new ChatCompletionChunkDto(id, "chat.completion.chunk", created, model, [new ChatChunkChoiceDto(0, new ChatMessageOutDto(null, null), finish)], null), ServerJsonContext.Default.ChatCompletionChunkDto, token).ConfigureAwait(false);
            if (request.Spec.IncludeUsage)
            {
                await WriteEventAsync(context, new ChatCompletionChunkDto(id, "chat.completion.chunk", created, model, [], usage), ServerJsonContext.Default.ChatCompletionChunkDto, token).ConfigureAwait(false);
            }
        }
        else
        {
            await WriteEventAsync(context, new CompletionResponseDto(id, "text_completion", created, model, [new CompletionChoiceDto(0, "", null, finish)], null), ServerJsonContext.Default.CompletionResponseDto, token).ConfigureAwait(false);
            if (request.Spec.IncludeUsage)
            {
                await WriteEventAsync(context, new CompletionResponseDto(id, "text_completion", created, model, [], usage), ServerJsonContext.Default.CompletionResponseDto, token).ConfigureAwait(false);
            }
        }

        await context.Response.Body.WriteAsync(Done, token).ConfigureAwait(false);
        await context.Response.Body.FlushAsync(token).ConfigureAwait(false);
    }

    private static void AddLogprob(CompletionLogprobsDto logprobs, GeneratedToken token, int offset)
    {
        logprobs.Tokens.Add(token.Text);
        logprobs.TokenLogprobs.Add(token.Logprob);
        logprobs.TextOffset.Add(offset);
        var top = new Dictionary<string, float>(StringComparer.Ordinal);
        foreach (var (text, logprob) in token.Top)
        {
            top.TryAdd(text, logprob);
        }

        logprobs.TopLogprobs.Add(top);
    }

    private static string FinishReason(JobOutcome outcome) => outcome == JobOutcome.Stop ? "stop" : "length";

    // An engine failure answers with the trace id the scheduler logged it under.
    private ApiError? OutcomeError(JobOutcome outcome, string traceId) => outcome switch
    {
        JobOutcome.Stop or JobOutcome.Length => null,
        JobOutcome.Timeout => ApiError.Timeout(TimeSpan.FromSeconds(_options.RequestTimeoutSeconds)),
        JobOutcome.Shutdown => ApiError.Unavailable("The server shut down before the request finished."),
        JobOutcome.Cancelled => ApiError.Unavailable("The request was cancelled."),
        _ => ApiError.Internal(traceId),
    };

    private static async Task WriteEventAsync<T>(HttpContext context, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo, CancellationToken token)
    {
        var body = context.Response.Body;
        await body.WriteAsync(DataPrefix, token).ConfigureAwait(false);
        await JsonSerializer.SerializeAsync(body, value, typeInfo, token).ConfigureAwait(false);
        await body.WriteAsync(EventEnd, token).ConfigureAwait(false);
        await body.FlushAsync(token).ConfigureAwait(false);
    }

    private static async Task WriteStreamErrorAsync(HttpContext context, ApiError error)
    {
        try
        {
            await WriteEventAsync(context, error.ToBody(), ServerJsonContext.Default.ErrorBodyDto, CancellationToken.None).ConfigureAwait(false);
            await context.Response.Body.WriteAsync(Done, CancellationToken.None).ConfigureAwait(false);
        }
        catch (IOException)
        {
            // The client is gone.
        }
    }

    /// <summary>Writes an error response.</summary>
    internal static async Task WriteErrorAsync(HttpContext context, ApiError error)
    {
        if (context.Response.HasStarted)
        {
            return;
        }

        await WriteJsonAsync(context, error.Status, error.ToBody(), ServerJsonContext.Default.ErrorBodyDto).ConfigureAwait(false);
    }

    /// <summary>Writes <paramref name="value"/> as the JSON response.</summary>
    internal static async Task WriteJsonAsync<T>(HttpContext context, int status, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, value, typeInfo, CancellationToken.None).ConfigureAwait(false);
    }

    private sealed record PreparedRequest(GenerationSpec Spec, int[] Prompt, string PromptText, SamplingParameters Sampling, string Model);
}
