using MoeServe.Router;
using MoeServe.Runtime;
using MoeServe.Runtime.Experts;
using MoeServe.Server.Api;
using MoeServe.Server.Hosting;
using MoeServe.Text.Chat;

namespace MoeServe.Server.Engine;

/// <summary>
/// Owns the one <see cref="MoeEngine"/> of the process. As the first hosted service it loads the
/// model and runs one warm-up forward pass before the web server binds its port, so a broken model
/// directory ends start-up with one clear line instead of a server that listens and then dies; it
/// disposes the engine after every other service has stopped.
/// </summary>
public sealed partial class ModelHost : IHostedService, IDisposable
{
    private readonly ServerOptions _options;
    private readonly ServerMetrics _metrics;
    private readonly ILoggerFactory _loggerFactory;
    private readonly IExpertFaultInjector? _faultInjector;
    private readonly TimeProvider _time;
    private readonly ILogger<ModelHost> _logger;
    private MoeEngine? _engine;
    private ChatPrompt? _chatPrompt;
    private RouterBiasReader? _bias;

    /// <summary>Creates the host; nothing is loaded until <see cref="StartAsync"/>.</summary>
    public ModelHost(ServerOptions options, ServerMetrics metrics, ILoggerFactory loggerFactory, TimeProvider time, IExpertFaultInjector? faultInjector = null)
    {
        _options = options;
        _metrics = metrics;
        _loggerFactory = loggerFactory;
        _time = time;
        _faultInjector = faultInjector;
        _logger = loggerFactory.CreateLogger<ModelHost>();
    }

    /// <summary>The loaded engine.</summary>
    /// <exception cref="InvalidOperationException">Not loaded yet.</exception>
    public MoeEngine Engine => _engine ?? throw new InvalidOperationException("The model is not loaded yet.");

    /// <summary>The chat endpoint's template (the manifest's Jinja one when it has one), read at load.</summary>
    /// <exception cref="InvalidOperationException">Not loaded yet.</exception>
    public ChatPrompt ChatPrompt => _chatPrompt ??= _engine is { } engine ? ChatPrompt.For(engine.Manifest) : throw new InvalidOperationException("The model is not loaded yet.");

    /// <summary>Whether <see cref="Engine"/> is available.</summary>
    public bool IsLoaded => _engine is not null;

    /// <summary>The id clients use: the configured ModelName, else the model's own name.</summary>
    public string ServedModelName => !string.IsNullOrWhiteSpace(_options.ModelName) ? _options.ModelName
        : _engine?.ModelName ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(_options.ModelPath)));

    /// <summary>Context length served: the option when set (never above the model's, checked at load), else the model's.</summary>
    public int ContextLength => _options.ContextLength > 0 ? _options.ContextLength : Engine.ContextLength;

    /// <summary>KV caches alive (0 before load).</summary>
    public int LiveCacheCount => _engine?.LiveCacheCount ?? 0;

    /// <summary>Which q is served: the routing policy, where q came from (the manifest's source) and lambda; null before load.</summary>
    public ServedQ? ServedQ => _engine is { } engine
        ? new ServedQ(RoutingPolicyFactory.NameOf(engine.Options.Routing), engine.Options.Routing == RoutingMethod.TopK ? "none (plain top-K)" : engine.Manifest.Routing.DescribeSource(), engine.Options.QScale)
        : null;

    /// <summary>Whether q changes from step to step (online BIP), so the gauges need refreshing after each step.</summary>
    public bool RoutingBiasIsLive => _engine?.Options.Routing == RoutingMethod.Bip;

    /// <summary>Loads the model and runs one forward pass of one token.</summary>
    /// <exception cref="StartupException">The model cannot be loaded or contradicts the options.</exception>
    public Task StartAsync(CancellationToken cancellationToken) => Task.Run(LoadAndWarmUp, cancellationToken);

    /// <summary>Disposes the engine; as the first hosted service it stops last, after the scheduler's loop has ended.</summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    private void LoadAndWarmUp()
    {
        var started = _time.GetTimestamp();
        var directory = Path.GetFullPath(_options.ModelPath);
        MoeEngine engine;
        try
        {
            var options = RuntimeOptionsMapper.Map(_options, _faultInjector, _time) with { LoadProgress = new LoadProgressLog(this) };
            engine = MoeEngine.Load(options, _loggerFactory);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The runtime's messages name the file and what is wrong with it; the trace would only bury that.
            LogLoadFailed(e, directory);
            throw new StartupException($"the model could not be loaded from {directory}: {OneLine(e.Message)}", ExitCodes.ModelLoadFailed, e);
        }

        try
        {
            if (_options.ContextLength > engine.ContextLength)
            {
                throw new StartupException(
                    $"{ServerOptions.SectionName}:ContextLength (--context) is {_options.ContextLength} but the model at {directory} has a context length of {engine.ContextLength}; use at most {engine.ContextLength}, or 0 for the model's own.",
                    ExitCodes.InvalidConfiguration);
            }

            try
            {
                _chatPrompt = ChatPrompt.For(engine.Manifest);
            }
            catch (JinjaException e)
            {
                throw new StartupException($"the jinjaChatTemplate of the model at {directory} is not usable: {OneLine(e.Message)}", ExitCodes.ModelLoadFailed, e);
            }

            WarmUp(engine, directory);
            _metrics.InitialiseModel(engine.Config.Layers, engine.Config.Experts, engine.Devices);
            _engine = engine;
            _bias = new RouterBiasReader(engine.Config.Experts);
            PublishRouterBias();
            LogChatTemplate(_chatPrompt.Description);
            LogLoaded(engine.ModelName, engine.Config.Layers, engine.Config.Experts, RoutingPolicyFactory.NameOf(_options.RoutingPolicy), _time.GetElapsedTime(started).TotalSeconds);
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    private void WarmUp(MoeEngine engine, string directory)
    {
        try
        {
            using var cache = engine.CreateCache();
            int[] token = [engine.EndOfTextTokenId >= 0 ? engine.EndOfTextTokenId : 0];
            var logits = new float[engine.VocabSize];
            engine.Forward([new ForwardItem(cache, token)], logits);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogLoadFailed(e, directory);
            throw new StartupException($"the model at {directory} loaded but its warm-up forward pass failed: {OneLine(e.Message)}", ExitCodes.ModelLoadFailed, e);
        }
    }

    /// <summary>Copies the q in use into the router-bias gauges (between steps only).</summary>
    public void PublishRouterBias()
    {
        if (_engine is not { } engine || _bias is null)
        {
            return;
        }

        for (var layer = 0; layer < engine.Config.Layers; layer++)
        {
            _metrics.SetRouterBias(layer, _bias.Read(engine, layer));
        }
    }

    /// <summary>Disposes the engine.</summary>
    public void Dispose()
    {
        _engine?.Dispose();
        _engine = null;
    }

    // A validator's list of problems, or an ONNX Runtime message, on the one line the operator reads.
    private static string OneLine(string message) =>
        string.Join(" ", message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Model {Model} loaded ({Layers} layers x {Experts} experts, routing {Routing}) and warmed up in {Seconds:0.00} s")]
    private partial void LogLoaded(string model, int layers, int experts, string routing, double seconds);

    // Debug only: the operator gets the message as the one last line; the trace is for developers.
    [LoggerMessage(EventId = 11, Level = LogLevel.Debug, Message = "Loading the model from {ModelPath} failed")]
    private partial void LogLoadFailed(Exception exception, string modelPath);

    [LoggerMessage(EventId = 12, Level = LogLevel.Information, Message = "{ChatTemplate}")]
    private partial void LogChatTemplate(string chatTemplate);

    [LoggerMessage(EventId = 13, Level = LogLevel.Information, Message = "Loading the model: {Progress}")]
    private partial void LogLoading(ModelLoadProgress progress);

    // A load of a thousand graphs takes tens of seconds: the operator sees it advance (readiness stays 503 meanwhile).
    private sealed class LoadProgressLog(ModelHost host) : IProgress<ModelLoadProgress>
    {
        public void Report(ModelLoadProgress value) => host.LogLoading(value);
    }
}

/// <summary>Which q the server routes with: policy, source and scale (shown by /v1/models and the dashboard).</summary>
/// <param name="Policy">trained, online-bip or topk.</param>
/// <param name="Source">"calibration (N tokens of FILE, DATE)", "export (METHOD)" or "none (plain top-K)".</param>
/// <param name="Scale">lambda.</param>
public sealed record ServedQ(string Policy, string Source, double Scale)
{
    /// <summary>One line for people: "trained, q from calibration (...) x 1".</summary>
    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Policy}, q from {Source} x {Scale:0.###}");
}
