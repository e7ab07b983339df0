using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Polly;
using Polly.CircuitBreaker;

namespace MoeServe.Runtime.Experts;

/// <summary>One Polly circuit breaker per device, shared by every expert placed on it.</summary>
internal sealed partial class DeviceCircuitBreakers
{
    private readonly Dictionary<int, ResiliencePipeline> _pipelines = [];
    private readonly Dictionary<int, CircuitBreakerStateProvider> _states = [];

    public DeviceCircuitBreakers(RuntimeOptions options, ILogger logger)
    {
        foreach (int device in options.Devices)
        {
            var state = new CircuitBreakerStateProvider();
            int id = device;
            var breaker = new CircuitBreakerStrategyOptions
            {
                FailureRatio = options.Resilience.FailureRatio,
                MinimumThroughput = options.Resilience.MinimumThroughput,
                SamplingDuration = options.Resilience.SamplingDuration,
                BreakDuration = options.Resilience.BreakDuration,
                StateProvider = state,
                ShouldHandle = new PredicateBuilder().Handle<OnnxRuntimeException>().Handle<InjectedExpertFaultException>(),
                OnOpened = args =>
                {
                    LogOpened(logger, id, args.BreakDuration.TotalSeconds, args.Outcome.Exception?.Message ?? "unknown");
                    return ValueTask.CompletedTask;
                },
                OnClosed = _ =>
                {
                    LogClosed(logger, id);
                    return ValueTask.CompletedTask;
                },
            };
            _pipelines[device] = new ResiliencePipelineBuilder { TimeProvider = options.TimeProvider }.AddCircuitBreaker(breaker).Build();
            _states[device] = state;
        }
    }

    public ResiliencePipeline For(int device) => _pipelines[device];

    /// <summary>The breaker state of a device (Closed, Open, HalfOpen, Isolated).</summary>
    public CircuitState State(int device) => _states[device].CircuitState;

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "Expert runs on device {Device} keep failing: circuit opened for {Seconds} s; its experts run on CPU meanwhile. Last error: {Error}")]
    private static partial void LogOpened(ILogger logger, int device, double seconds, string error);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Information, Message = "Device {Device} recovered: circuit closed, its experts run there again.")]
    private static partial void LogClosed(ILogger logger, int device);
}
