using System.Text.Json;
using System.Text.Json.Serialization;

using MoeServe.Runtime;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>bench</c>: decode throughput of an exported model at several concurrency levels, with per-expert
/// batching versus per-token dispatch, per-expert batch sizes, worker makespan, MaxVio, and the trained
/// q versus plain top-K on the same prompts.
/// </summary>
internal static class BenchCommand
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static Command Create()
    {
        var flags = new GenerateRuntimeFlags();
        var concurrency = new Option<string>("--concurrency") { Description = "Comma-separated numbers of sequences decoded together.", DefaultValueFactory = _ => "1,8,32" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Decode steps per sequence.", DefaultValueFactory = _ => 128 };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt length of each sequence (taken from --data).", DefaultValueFactory = _ => 32 };
        var data = new Option<string>("--data") { Description = "Corpus file the prompts are cut from (random token ids when it does not exist).", DefaultValueFactory = _ => "data/corpus/validation.txt" };
        var noBaseline = new Option<bool>("--no-baseline") { Description = "Skip the per-token dispatch baseline." };
        var noCompare = new Option<bool>("--no-routing-compare") { Description = "Skip the trained-q versus plain top-K comparison." };
        var noPeak = new Option<bool>("--no-peak") { Description = "Skip measuring the matrix-multiply peak." };
        var repeat = new Option<int>("--repeat") { Description = "Interleaved runs per variant; the median run is reported.", DefaultValueFactory = _ => 3 };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var output = new Option<string?>("--out") { Description = "Also write the JSON report to this file." };
        var balance = new Option<bool>("--balance") { Description = "Instead of throughput: balance per q setting (q = 0, previous q, served q x each --balance-scales, online BIP): MaxVio_batch beside its noise floor, expert makespan, and a simulated expert phase over 4 and 16 devices." };
        var balanceScales = new Option<string>("--balance-scales") { Description = "With --balance: comma-separated lambdas for the served q.", DefaultValueFactory = _ => "0.5,1,1.5" };
        var peer = new Option<string?>("--peer") { Description = $"Also run the same model, shapes and rounds in a peer engine and print both decode tokens/s and their ratio: '{BenchPeer.LlamaCpp}' (llama.cpp in-process, F16 GGUF written from the model)." };
        var peerGguf = new Option<string?>("--peer-gguf") { Description = "With --peer llamacpp: run this GGUF in the peer instead of writing an F16 one from the model (e.g. the Q4_0 file the model was imported from)." };
        var bandwidth = new Option<bool>("--bandwidth") { Description = "Also measure memory bandwidth (copy and read over 1 GB buffers) and print each engine's single-stream limit: bandwidth / weight bytes one decode step reads." };
        var compareSessions = new Option<bool>("--compare-sessions") { Description = "Also decode on a second engine whose sessions have their own thread pools and arenas (or shared ones, with --shared-sessions false), interleaved run by run; prints shared / own tokens/s per level." };
        var peerProcess = new Option<bool>("--peer-process") { Description = "With --peer: run the peer in a child process (this same program) instead of this one, its rounds still interleaved with MoeServe's, so the two engines share no process (threads, allocator, loaded libraries)." };
        var compareKvCache = new Option<bool>("--compare-kv-cache") { Description = "Also decode on a second engine with the other KV cache element type (float32 against the default float16, or the reverse with --kv-cache float32), interleaved run by run; prints both tokens/s and attention ms per level." };
        var peerThreads = new Option<int>("--peer-threads") { Description = "Threads the peer uses (default: the machine's cores).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var command = new Command("bench", "Decode tokens/s per concurrency level: per-expert batching vs per-token dispatch, batch sizes, makespan, MaxVio (trained q vs top-K).")
        {
            concurrency, maxTokens, promptTokens, data, noBaseline, noCompare, noPeak, repeat, json, output, balance, balanceScales, peer, peerThreads, peerProcess, compareSessions, compareKvCache, peerGguf, bandwidth,
        };
        foreach (var option in flags.All)
        {
            command.Options.Add(option);
        }

        command.SetAction((parse, cancellation) =>
        {
            var errors = new List<string>();
            int[] levels = GenerateRuntimeFlags.ParseIntList(parse.GetValue(concurrency)!, "--concurrency", 1, errors);
            int steps = parse.GetValue(maxTokens);
            int prompt = parse.GetValue(promptTokens);
            if (steps < 1)
            {
                errors.Add($"--max-tokens must be >= 1, got {steps}.");
            }

            if (parse.GetValue(repeat) < 1)
            {
                errors.Add($"--repeat must be >= 1, got {parse.GetValue(repeat)}.");
            }

            if (prompt < 1)
            {
                errors.Add($"--prompt-tokens must be >= 1, got {prompt}.");
            }

            string? peerName = parse.GetValue(peer);
            if (peerName is not null && peerName != BenchPeer.LlamaCpp)
            {
                errors.Add($"--peer must be '{BenchPeer.LlamaCpp}', got '{peerName}'.");
            }

            if (parse.GetValue(peerThreads) < 1)
            {
                errors.Add($"--peer-threads must be >= 1, got {parse.GetValue(peerThreads)}.");
            }

            string? peerFile = parse.GetValue(peerGguf);
            if (peerFile is not null && (peerName is null || !File.Exists(peerFile)))
            {
                errors.Add(peerName is null ? "--peer-gguf needs --peer llamacpp." : $"--peer-gguf: no such file '{peerFile}'.");
            }

            if (parse.GetValue(peerProcess) && peerName is null)
            {
                errors.Add("--peer-process needs --peer llamacpp.");
            }

            int maxLevel = levels.Length > 0 ? levels.Max() : 1;
            var options = flags.Build(parse, errors, o => o with { MaxSequences = maxLevel, MaxBatchTokens = Math.Max(1, maxLevel * Math.Max(1, prompt)) });
            if (errors.Count > 0)
            {
                return Task.FromResult(CliErrors.Fail(errors));
            }

            if (parse.GetValue(balance))
            {
                var lambdas = FrontierCommand.ParseScales(parse.GetValue(balanceScales)!, errors);
                return Task.FromResult(errors.Count > 0 ? CliErrors.Fail(errors) : RunBalance(new BalanceBench(options, levels, steps, prompt, parse.GetValue(data)!, lambdas, Console.Error.WriteLine), parse.GetValue(output), cancellation));
            }

            var settings = new BenchRunner.Settings(levels, steps, prompt, parse.GetValue(data)!, !parse.GetValue(noBaseline), !parse.GetValue(noCompare), !parse.GetValue(noPeak), parse.GetValue(repeat), peerName, parse.GetValue(peerThreads), parse.GetValue(compareSessions), peerFile, parse.GetValue(bandwidth), parse.GetValue(peerProcess), parse.GetValue(compareKvCache));
            return Task.FromResult(Run(options, settings, parse.GetValue(json), parse.GetValue(output), cancellation));
        });
        return command;
    }

    private static int Run(RuntimeOptions options, BenchRunner.Settings settings, bool json, string? output, CancellationToken cancellation)
    {
        return GenerateRuntimeFlags.Run(() =>
        {
            var progress = json ? null : new Action<string>(Console.Error.WriteLine);
            var report = new BenchRunner(options, settings, progress).Run(cancellation);
            string text = JsonSerializer.Serialize(report, Json);
            if (output is not null)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
                File.WriteAllText(output, text + "\n");
            }

            if (json)
            {
                Console.WriteLine(text);
            }
            else
            {
                PrintTable(report);
            }

            return 0;
        });
    }

    private static int RunBalance(BalanceBench bench, string? output, CancellationToken cancellation) => GenerateRuntimeFlags.Run(() =>
    {
        var report = bench.Run(cancellation);
        if (output is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
            File.WriteAllText(output, JsonSerializer.Serialize(report, Json) + "\n");
        }

        BalanceBench.Print(report);
        return 0;
    });

    private static void PrintTable(BenchReport report)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"model {report.Model}: {report.Settings.Layers} layers x {report.Settings.Experts} experts (top-{report.Settings.TopK}), {report.Settings.ExpertWorkers} workers, routing {report.Settings.Routing}, prompts {report.Settings.PromptSource}");
        Console.WriteLine($"load average at start: {report.Settings.LoadAverageAtStart} ({report.Settings.ProcessorCount} cores)");
        Console.WriteLine("concurrency | batched tok/s (at p50 step) | step ms p50/p95 | runs/step | tokens/run | expert ms/step | CPU ms/token | per-token tok/s (at p50) | gain (at p50) | expert-phase gain | CPU gain | expert GFLOP/s/thread");
        foreach (var level in report.Levels)
        {
            if (level.KvCache is { } k)
            {
                Console.WriteLine(string.Create(c, $"  concurrency {level.Concurrency}: float16 KV cache {k.Float16TokensPerSecond:F1} tok/s (attention {k.Float16AttentionMsPerStep:F2} ms/step), float32 {k.Float32TokensPerSecond:F1} (attention {k.Float32AttentionMsPerStep:F2}): float16 / float32 {k.Float16OverFloat32:F2}x, attention {k.AttentionFloat32OverFloat16:F2}x faster"));
            }
        }

        foreach (var level in report.Levels)
        {
            var b = level.Batched;
            string baseline = level.PerToken is null ? "-" : level.PerToken.DecodeTokensPerSecond.ToString("F1", c);
            string gain = level.BatchingGain is double g ? g.ToString("F2", c) + "x" : "-";
            string phaseGain = level.ExpertPhaseGain is double pg ? pg.ToString("F2", c) + "x" : "-";
            string cpuGain = level.CpuGain is double cg ? cg.ToString("F2", c) + "x" : "-";
            string baselineMedian = level.PerToken is null ? string.Empty : $" ({level.PerToken.MedianStepTokensPerSecond.ToString("F0", c)})";
            string gainMedian = level.MedianStepGain is double gm ? $" ({gm.ToString("F2", c)}x)" : string.Empty;
            Console.WriteLine(string.Create(c, $"{level.Concurrency,11} | {b.DecodeTokensPerSecond,8:F1} ({b.MedianStepTokensPerSecond:F0}) | {b.StepLatencyMs.P50,7:F2}/{b.StepLatencyMs.P95,-7:F2} | {b.ExpertRunsPerStep,9:F1} | {b.MeanExpertBatchTokens,10:F2} | {b.ExpertPhaseMsPerStep,14:F2} | {b.CpuMsPerToken,12:F2} | {baseline}{baselineMedian} | {gain}{gainMedian} | {phaseGain,17} | {cpuGain,8} | {b.ExpertGflopsPerThread,6:F1}"));
        }

        foreach (var level in report.Levels)
        {
            if (level.Sessions is { } s)
            {
                Console.WriteLine(string.Create(c, $"  concurrency {level.Concurrency}: shared pools and arena {s.SharedTokensPerSecond:F1} tok/s ({s.SharedMedianStepTokensPerSecond:F0} at p50), own per session {s.OwnTokensPerSecond:F1} ({s.OwnMedianStepTokensPerSecond:F0}): shared / own {s.SharedOverOwn:F2}x ({s.SharedOverOwnAtMedianStep:F2}x)"));
            }
        }

        foreach (var level in report.Levels)
        {
            var b = level.Batched;
            Console.WriteLine(string.Create(c, $"  concurrency {level.Concurrency}: step {b.StepLatencyMs.Mean:F2} ms = dense part {b.DenseMsPerStep:F2} (attention {b.AttentionMsPerStep:F2}) + expert phase {b.ExpertPhaseMsPerStep:F2} + embed and head {b.HeadMsPerStep:F2} + routing {b.RouterMsPerStep:F2} + the rest"));
        }

        if (report.RoutingComparison is { } r)
        {
            double floor = Router.BalancedNoiseFloor.MeanMaxVio(new Router.RoutingShape(r.Concurrency, report.Settings.Experts, report.Settings.TopK), new Random(1234));
            Console.WriteLine(string.Create(c, $"routing at concurrency {r.Concurrency}: noise floor of a perfectly balanced random router {floor:F3} (MaxVio_batch, same n, m, k)"));
            Console.WriteLine(string.Create(c, $"routing at concurrency {r.Concurrency}: trained q MaxVio_batch {r.Trained.MaxVioBatch:F3} (global {r.Trained.MaxVioGlobal:F3}), makespan {r.Trained.MakespanMsPerStep:F2} ms/step; plain top-K MaxVio_batch {r.TopK.MaxVioBatch:F3} (global {r.TopK.MaxVioGlobal:F3}), makespan {r.TopK.MakespanMsPerStep:F2} ms/step"));
            if (r.OnlineBip is { } bip)
            {
                Console.WriteLine(string.Create(c, $"  online BIP: MaxVio_batch {bip.MaxVioBatch:F3} (global {bip.MaxVioGlobal:F3}), makespan {bip.MakespanMsPerStep:F2} ms/step"));
            }
        }

        if (report.Peak is { } p)
        {
            Console.WriteLine(string.Create(c, $"matrix-multiply peak ({p.Size}^3 MatMul): {p.GflopsOneThread:F1} GFLOP/s on one thread, {p.GflopsAllWorkers:F1} on {p.Workers} threads"));
        }

        if (report.ExpertCost is { } e)
        {
            Console.WriteLine(string.Create(c, $"expert Run cost ({e.Graph}): {e.SingleTokenMicroseconds:F1} us for 1 token, {e.MarginalMicrosecondsPerToken:F2} us per extra token in a large Run ({string.Join(", ", e.Points.Select(p => $"{p.Tokens}: {p.MicrosecondsPerRun:F1}"))} us); per-expert batching can gain at most {(e.CeilingGain is double ceiling ? ceiling.ToString("F2", c) + "x" : "(unbounded: no per-token cost measured)")} on the expert phase"));
            foreach (var level in report.Levels.Where(l => l.PredictedExpertPhaseGain is not null))
            {
                Console.WriteLine(string.Create(c, $"  concurrency {level.Concurrency}: predicted expert-phase gain {level.PredictedExpertPhaseGain:F2}x, measured {(level.ExpertPhaseGain is double g ? g.ToString("F2", c) + "x" : "-")}"));
            }
        }

        if (report.Peer is { } peerReport)
        {
            BenchPeerOutput.Print(peerReport, report.Peak);
        }

        if (report.Bandwidth is { } bandwidthReport)
        {
            BenchBandwidth.Print(bandwidthReport, report.Levels.FirstOrDefault(l => l.Concurrency == 1)?.Batched.DecodeTokensPerSecond, report.Peer?.Levels.FirstOrDefault(l => l.Concurrency == 1)?.Peer.DecodeTokensPerSecond);
        }

        Console.WriteLine(report.Note);
    }
}
