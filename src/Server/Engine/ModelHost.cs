using Microsoft.Extensions.Logging;
using MoeServe.Runtime;
using MoeServe.Runtime.Experts;
using MoeServe.Server.Metrics;
using MoeServe.Server.Options;

namespace MoeServe.Server.Engine;

/// <summary>
/// Owns the one <see cref="MoeEngine"/> of the process: loads it with options mapped from
/// <see cref="ServerOptions"/>, runs the warm-up forward pass readiness waits for, and disposes it.
/// </summary>
public sealed partial class ModelHost : IDisposable
{
    private readonly ServerOptions _options;
    private readonly ServerMetrics _metrics;
    private readonly ILoggerFactory _loggerFactory;
    private readonly IExpertFaultInjector? _faultInjector;
    private readonly TimeProvider _time;
    private readonly ILogger<ModelHost> _logger;
    private MoeEngine? _engine;
    private RouterBiasReader? _bias;

    /// <summary>Creates the host; nothing is loaded until <see cref="LoadAndWarmUp"/>.</summary>
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

    /// <summary>Whether <see cref="Engine"/> is available.</summary>
    public bool IsLoaded => _engine is not null;

    /// <summary>The id clients use: the configured ModelName, else the model's own name.</summary>
    public string ServedModelName => !string.IsNullOrWhiteSpace(_options.ModelName) ? _options.ModelName
        : _engine?.ModelName ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(_options.ModelPath)));

    /// <summary>Context length served: the option when set, else the model's.</summary>
    public int ContextLength => _options.ContextLength > 0 ? Math.Min(_options.ContextLength, Engine.ContextLength) : Engine.ContextLength;

    /// <summary>KV caches alive (0 before load).</summary>
    public int LiveCacheCount => _engine?.LiveCacheCount ?? 0;

    /// <summary>Loads the model and runs one forward pass of one token.</summary>
    public void LoadAndWarmUp()
    {
        var started = _time.GetTimestamp();
        var engine = MoeEngine.Load(RuntimeOptionsMapper.Map(_options, _faultInjector, _time), _loggerFactory);
        try
        {
            using (var cache = engine.CreateCache())
            {
                int[] token = [engine.EndOfTextTokenId >= 0 ? engine.EndOfTextTokenId : 0];
                var logits = new float[engine.VocabSize];
                engine.Forward([new ForwardItem(cache, token)], logits);
            }

            _metrics.InitialiseModel(engine.Config.Layers, engine.Config.Experts, engine.Devices);
            _engine = engine;
            _bias = new RouterBiasReader(engine.Config.Experts);
            PublishRouterBias();
            LogLoaded(engine.ModelName, engine.Config.Layers, engine.Config.Experts, _options.RoutingPolicy, _time.GetElapsedTime(started).TotalSeconds);
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    /// <summary>Whether q changes from step to step (online BIP), so the gauges need refreshing after each step.</summary>
    public bool RoutingBiasIsLive => _engine?.Options.Routing == RoutingPolicyKind.OnlineBip;

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

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Model {Model} loaded ({Layers} layers x {Experts} experts, routing {Routing}) and warmed up in {Seconds:0.00} s")]
    private partial void LogLoaded(string model, int layers, int experts, string routing, double seconds);
}
