using System.Numerics.Tensors;

using MoeServe.Model;
using MoeServe.Router;
using MoeServe.Runtime;
using MoeServe.Runtime.Caching;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>bench --balance</c>: balance at serving for every q setting (q = 0, the previous q, the served q and
/// its scaled versions, online BIP) at each concurrency: MaxVio_batch of the decode steps beside the noise
/// floor of a perfectly balanced random router at the same n, m, k; the measured expert makespan; and a
/// SIMULATION of the expert phase with experts spread over 4 and 16 devices, from the measured per-Run
/// costs (<see cref="ExpertCostProbe"/>) and the measured per-expert batches of every layer step.
/// </summary>
internal sealed class BalanceBench(RuntimeOptions options, IReadOnlyList<int> concurrency, int steps, int promptTokens, string dataPath, IReadOnlyList<double> scales, Action<string>? progress)
{
    /// <summary>Device counts of the expert-parallel simulation.</summary>
    public static readonly int[] SimulatedDevices = [4, 16];

    public BalanceReport Run(CancellationToken cancellation)
    {
        var manifest = ModelManifest.Load(options.ModelPath);
        var config = manifest.Config;
        var settings = new List<(string Name, RuntimeOptions Options)> { ("q = 0 (top-K)", options with { Routing = RoutingMethod.TopK }) };
        if (manifest.Routing.PreviousQ is { } previous)
        {
            settings.Add(($"previous q ({(previous.QSource is null ? "export" : previous.QSource.Kind)})", options with { Routing = RoutingMethod.BiasedTopK, QOverride = previous.Q, QScale = 1 }));
        }

        string served = manifest.Routing.QSource is null ? "served q (export)" : "calibrated q";
        foreach (double lambda in scales)
        {
            settings.Add((string.Create(CultureInfo.InvariantCulture, $"{served} x {lambda:0.##}"), options with { Routing = RoutingMethod.BiasedTopK, QScale = lambda }));
        }

        settings.Add(("online BIP", options with { Routing = RoutingMethod.Bip, QScale = 1 }));

        BenchExpertCost cost;
        int[] prompts;
        using (var probe = MoeEngine.Load(options with { Routing = RoutingMethod.TopK }))
        {
            progress?.Invoke("measuring one expert Run's cost per token count ...");
            cost = ExpertCostProbe.Measure(probe);
            prompts = LoadPrompts(probe, concurrency.Max() * promptTokens);
        }

        var floors = concurrency.ToDictionary(c => c, c => BalancedNoiseFloor.MeanMaxVio(new RoutingShape(c, config.Experts, config.TopK), new Random(1234)));
        var rows = new List<BalanceRow>();
        foreach (var (name, settingOptions) in settings)
        {
            using var engine = MoeEngine.Load(settingOptions);

            // Untimed first run: JIT tiers and session first-run costs must not be charged to the first level.
            Decode(engine, name, concurrency.Max(), prompts, cost, 0, cancellation);
            foreach (int c in concurrency)
            {
                cancellation.ThrowIfCancellationRequested();
                progress?.Invoke($"{name}: {c} sequences x {steps} steps ...");
                rows.Add(Decode(engine, name, c, prompts, cost, floors[c], cancellation));
            }
        }

        return new BalanceReport(manifest.Name, config.Experts, config.TopK, steps, cost, rows);
    }

    private BalanceRow Decode(MoeEngine engine, string name, int c, int[] prompts, BenchExpertCost cost, double floor, CancellationToken cancellation)
    {
        int v = engine.VocabSize;
        int layers = engine.Config.Layers;
        int m = engine.Config.Experts;
        var caches = new KvCache[c];
        var items = new ForwardItem[c];
        var next = new int[c][];
        var logits = new float[c * v];
        var stats = engine.CreateStatistics();
        double maxVio = 0, makespan = 0, expertPhase = 0;
        var simulated = new double[SimulatedDevices.Length];
        var deviceLoad = new double[SimulatedDevices.Max()];
        try
        {
            for (int i = 0; i < c; i++)
            {
                caches[i] = engine.CreateCache();
                next[i] = new int[1];
                int start = (i * promptTokens) % Math.Max(1, prompts.Length - promptTokens);
                items[i] = new ForwardItem(caches[i], prompts.AsMemory(start, promptTokens));
            }

            engine.Forward(items, logits);
            for (int step = 0; step < steps; step++)
            {
                cancellation.ThrowIfCancellationRequested();
                for (int i = 0; i < c; i++)
                {
                    next[i][0] = TensorPrimitives.IndexOfMax(logits.AsSpan(i * v, v));
                    items[i] = new ForwardItem(caches[i], next[i]);
                }

                engine.Forward(items, logits, stats);
                maxVio += stats.MeanMaxVio;
                makespan += stats.TotalMakespanSeconds;
                expertPhase += stats.ExpertPhaseSeconds;
                for (int l = 0; l < layers; l++)
                {
                    var loads = stats.ExpertTokens(l);
                    for (int d = 0; d < SimulatedDevices.Length; d++)
                    {
                        // Expert j on device j mod D; a device runs its experts one after another; the step waits for the busiest.
                        int devices = SimulatedDevices[d];
                        Array.Clear(deviceLoad);
                        for (int j = 0; j < m; j++)
                        {
                            deviceLoad[j % devices] += loads[j] > 0 ? ExpertCostProbe.RunMicroseconds(cost, loads[j]) : 0;
                        }

                        simulated[d] += deviceLoad.AsSpan(0, devices).ToArray().Max();
                    }
                }
            }
        }
        finally
        {
            foreach (var cache in caches)
            {
                cache?.Dispose();
            }
        }

        int layerSteps = steps * layers;
        return new BalanceRow(
            name,
            c,
            maxVio / steps,
            floor,
            makespan * 1000 / steps,
            expertPhase * 1000 / steps,
            [.. SimulatedDevices.Select((devices, d) => new SimulatedExpertPhase(devices, simulated[d] / layerSteps))]);
    }

    private int[] LoadPrompts(MoeEngine engine, int needed)
    {
        if (File.Exists(dataPath))
        {
            using var reader = new StreamReader(dataPath);
            var buffer = new char[Math.Min(4_000_000, (needed * 8) + 4096)];
            int read = reader.ReadBlock(buffer, 0, buffer.Length);
            var ids = engine.Tokenizer.EncodeToIds(new string(buffer, 0, read)).Where(id => id < engine.VocabSize).ToArray();
            if (ids.Length >= needed)
            {
                return ids;
            }
        }

        var random = new Random(1234);
        return [.. Enumerable.Range(0, needed).Select(_ => random.Next(engine.VocabSize))];
    }

    public static void Print(BalanceReport report)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c, $"model {report.Model}: {report.Experts} experts, top-{report.TopK}, {report.Steps} decode steps per run; expert Run cost {string.Join(", ", report.ExpertCost.Points.Select(p => $"{p.Tokens}: {p.MicrosecondsPerRun:F1}"))} us"));
        Console.WriteLine("| setting | sequences | MaxVio_batch | noise floor | expert makespan ms/step | expert phase ms/step | simulated expert phase us/layer step, 4 devices | 16 devices |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        foreach (var r in report.Rows)
        {
            Console.WriteLine(string.Create(c, $"| {r.Setting} | {r.Sequences} | {r.MaxVioBatch:F3} | {r.NoiseFloor:F3} | {r.MakespanMsPerStep:F2} | {r.ExpertPhaseMsPerStep:F2} | {r.Simulated[0].MicrosecondsPerLayerStep:F1} | {r.Simulated[1].MicrosecondsPerLayerStep:F1} |"));
        }

        Console.WriteLine("noise floor: mean MaxVio_batch of k experts drawn uniformly at random per token (same n, m, k; 2000 seeded trials). Simulated columns: a SIMULATION from measured inputs, expert j on device j mod D, per-Run costs from the probe above.");
    }
}

/// <summary>bench --balance's result.</summary>
internal sealed record BalanceReport(string Model, int Experts, int TopK, int Steps, BenchExpertCost ExpertCost, IReadOnlyList<BalanceRow> Rows);

/// <summary>One setting at one concurrency.</summary>
internal sealed record BalanceRow(string Setting, int Sequences, double MaxVioBatch, double NoiseFloor, double MakespanMsPerStep, double ExpertPhaseMsPerStep, IReadOnlyList<SimulatedExpertPhase> Simulated);

/// <summary>Simulated expert-phase time per layer step with experts spread over <paramref name="Devices"/> devices.</summary>
internal sealed record SimulatedExpertPhase(int Devices, double MicrosecondsPerLayerStep);
