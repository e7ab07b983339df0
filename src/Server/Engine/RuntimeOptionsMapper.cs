using System.Globalization;
using MoeServe.Runtime;
using MoeServe.Runtime.Experts;

namespace MoeServe.Server.Engine;

/// <summary>Maps validated <see cref="ServerOptions"/> onto the runtime's <see cref="RuntimeOptions"/>.</summary>
public static class RuntimeOptionsMapper
{
    /// <summary>The runtime options for these server options.</summary>
    public static RuntimeOptions Map(ServerOptions options, IExpertFaultInjector? faultInjector, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new RuntimeOptions
        {
            ModelPath = options.ModelPath,
            ExecutionProvider = options.ExecutionProvider,
            Devices = options.Devices.Select(d => int.Parse(d, CultureInfo.InvariantCulture)).ToArray(),
            ExpertDeviceMap = options.DeviceMap.Count == 0 ? null : options.DeviceMap.Select(Parse).ToDictionary(e => e.Expert, e => e.Device),
            ExpertWorkers = options.Workers,
            IntraOpThreads = options.IntraOpThreads,
            ShareSessionResources = options.ShareSessionResources,
            KvCacheDType = options.KvCacheDType,
            Kernels = options.Kernels,
            Routing = options.RoutingPolicy,
            QScale = options.QScale,
            OnlineBipIterations = options.OnlineBipIterations,
            OnlineBipMinTokens = options.OnlineBipMinTokens,
            // One spare cache for the warm-up pass.
            MaxSequences = options.MaxBatchSequences + 1,
            MaxBatchTokens = options.MaxStepTokens,
            FaultInjector = faultInjector,
            TimeProvider = time,
        };
    }

    private static DeviceMapEntry Parse(string text) =>
        DeviceMapEntry.TryParse(text, out var entry) ? entry : throw new FormatException($"Bad device map entry '{text}'.");
}
