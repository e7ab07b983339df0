using System.Diagnostics;
using System.Text.Json;
using MoeServe.Runtime;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>load-probe</c>: what loading a model costs, per graph (a session, or a graph a managed kernel runs instead):
/// load time and resident memory (VmRSS)
/// before the load, after it, and after a few warm-up steps that Run every expert once (an arena
/// grows on first Run). Run it once per setting in a fresh process: freed native memory is not given
/// back to the OS, so two loads in one process cannot be compared (docs/benchmarks.md).
/// </summary>
internal static class LoadProbeCommand
{
    public static Command Create()
    {
        var flags = new GenerateRuntimeFlags();
        var sequences = new Option<int>("--warm-sequences") { Description = "Sequences in the warm-up steps (one 16-token prefill each, then 4 decode steps).", DefaultValueFactory = _ => 8 };
        var json = CliOptions.Json("Print one JSON object instead of text.");
        var command = flags.NewCommand("load-probe", "Load a model and print load time and resident memory per graph (shared or per-session ONNX Runtime pools and arenas).", sequences, json);
        command.SetAction(parse =>
        {
            var errors = new List<string>();
            int warm = parse.GetValue(sequences);
            var options = flags.Build(parse, errors, o => o with { MaxSequences = Math.Max(o.MaxSequences, warm) });
            if (warm < 1)
            {
                errors.Add($"--warm-sequences must be at least 1, got {warm}.");
            }

            return errors.Count > 0 ? CliErrors.Fail(errors) : GenerateRuntimeFlags.Run(() => Probe(options, warm, parse.GetValue(json)));
        });
        return command;
    }

    private static int Probe(RuntimeOptions options, int sequences, bool json)
    {
        long before = ResidentBytes();
        var clock = Stopwatch.StartNew();
        using var engine = MoeEngine.Load(options);
        double loadSeconds = clock.Elapsed.TotalSeconds;
        long loaded = ResidentBytes();
        Warm(engine, sequences);
        long warmed = ResidentBytes();
        var r = engine.SessionResources;
        int experts = engine.Config.Layers * engine.Config.Experts;
        int graphs = Math.Max(1, r.Graphs);
        var result = new LoadProbeResult(
            engine.ModelName,
            r.Sessions,
            experts - r.ManagedExperts,
            r.SharedThreadPools,
            r.SharedCpuArena,
            r.IntraOpThreads,
            Math.Round(loadSeconds, 3),
            Math.Round(loadSeconds * 1e3 / graphs, 3),
            Mb(before),
            Mb(loaded),
            Mb(warmed),
            Math.Round((loaded - before) / 1024.0 / graphs, 1),
            Math.Round((warmed - before) / 1024.0 / graphs, 1),
            Mb(PeakBytes()),
            Threads(),
            Environment.ProcessorCount,
            r.ManagedExperts,
            r.ManagedFewRowExperts,
            r.ManagedFewRowDenseGraphs);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(result, JsonOptions));
            return 0;
        }

        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c, $"model {result.Model}: {result.Sessions} sessions ({result.ExpertSessions} experts), {result.ManagedExperts} experts in the managed int4 kernel, {result.ManagedFewRowExperts} experts with float16 kernels for steps of few tokens, {result.ManagedFewRowDenseGraphs} dense graphs in managed kernels; shared thread pools {result.SharedThreadPools} ({result.IntraOpThreads} intra-op threads), shared CPU arena {result.SharedCpuArena}"));
        Console.WriteLine(string.Create(c, $"load {result.LoadSeconds:F2} s ({result.LoadMsPerGraph:F2} ms per graph)"));
        Console.WriteLine(string.Create(c, $"VmRSS before {result.RssBeforeMb:F1} MB, after load {result.RssAfterLoadMb:F1} MB, after warm-up {result.RssAfterWarmMb:F1} MB (peak {result.PeakRssMb:F1} MB); {result.OsThreads} OS threads"));
        Console.WriteLine(string.Create(c, $"per graph: {result.KbPerGraphAfterLoad:F1} KB after load, {result.KbPerGraphAfterWarm:F1} KB after warm-up"));
        return 0;
    }

    /// <summary>One prefill of 16 tokens per sequence, then 4 decode steps: every expert Runs at least once with a good chance.</summary>
    private static void Warm(MoeEngine engine, int sequences)
    {
        var caches = new List<Runtime.Caching.KvCache>();
        try
        {
            var items = new ForwardItem[sequences];
            for (int s = 0; s < sequences; s++)
            {
                caches.Add(engine.CreateCache());
                int[] prompt = Enumerable.Range(0, 16).Select(i => ((s * 131) + (i * 17) + 1) % engine.VocabSize).ToArray();
                items[s] = new ForwardItem(caches[s], prompt);
            }

            var logits = new float[sequences * engine.VocabSize];
            engine.Forward(items, logits);
            for (int step = 0; step < 4; step++)
            {
                for (int s = 0; s < sequences; s++)
                {
                    items[s] = new ForwardItem(caches[s], new[] { ((s * 7) + (step * 13) + 3) % engine.VocabSize });
                }

                engine.Forward(items, logits);
            }
        }
        finally
        {
            foreach (var cache in caches)
            {
                cache.Dispose();
            }
        }
    }

    /// <summary>OS threads of the process (per-session intra-op pools show up here), else the managed view.</summary>
    private static int Threads() => Directory.Exists("/proc/self/task") ? Directory.GetDirectories("/proc/self/task").Length : Process.GetCurrentProcess().Threads.Count;

    private static double Mb(long bytes) => Math.Round(bytes / 1024.0 / 1024.0, 1);

    /// <summary>VmRSS from /proc/self/status (Linux), else the working set.</summary>
    private static long ResidentBytes() => StatusKb("VmRSS:") ?? Process.GetCurrentProcess().WorkingSet64;

    private static long PeakBytes() => StatusKb("VmHWM:") ?? Process.GetCurrentProcess().PeakWorkingSet64;

    private static long? StatusKb(string key)
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status))
        {
            return null;
        }

        foreach (string line in File.ReadLines(status))
        {
            if (line.StartsWith(key, StringComparison.Ordinal))
            {
                string number = line[key.Length..].Trim().Split(' ')[0];
                return long.Parse(number, CultureInfo.InvariantCulture) * 1024;
            }
        }

        return null;
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    private sealed record LoadProbeResult(
        string Model,
        int Sessions,
        int ExpertSessions,
        bool SharedThreadPools,
        bool SharedCpuArena,
        int IntraOpThreads,
        double LoadSeconds,
        double LoadMsPerGraph,
        double RssBeforeMb,
        double RssAfterLoadMb,
        double RssAfterWarmMb,
        double KbPerGraphAfterLoad,
        double KbPerGraphAfterWarm,
        double PeakRssMb,
        int OsThreads,
        int ProcessorCount,
        int ManagedExperts,
        int ManagedFewRowExperts,
        int ManagedFewRowDenseGraphs);
}
