using System.Diagnostics;
using System.Numerics.Tensors;

using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MoeServe.Cli.Corpus;
using MoeServe.Model;
using MoeServe.Model.Onnx;
using MoeServe.Router;
using MoeServe.Runtime;
using MoeServe.Runtime.Caching;

namespace MoeServe.Cli.Commands;

/// <summary>Runs bench's measurements: one engine per dispatch/routing variant, greedy decode of c sequences at once.</summary>
internal sealed class BenchRunner(RuntimeOptions options, BenchRunner.Settings settings, Action<string>? progress)
{
    /// <summary>What to measure.</summary>
    internal sealed record Settings(IReadOnlyList<int> Concurrency, int MaxTokens, int PromptTokens, string DataPath, bool Baseline, bool CompareRouting, bool Peak, int Repeat, string? Peer = null, int PeerThreads = 0, bool CompareSessions = false, string? PeerGguf = null, bool Bandwidth = false, bool PeerProcess = false, bool CompareKvCache = false);

    public BenchReport Run(CancellationToken cancellation)
    {
        var levels = new List<BenchLevel>();
        BenchRoutingComparison? comparison = null;
        BenchSettings? benchSettings = null;
        string model = string.Empty;
        string note = string.Empty;
        int[] promptSource = [];
        BenchPeak? peak = null;
        BenchExpertCost? expertCost = null;
        BenchPeerReport? peerReport = null;
        BenchBandwidthReport? bandwidth = null;
        int top = settings.Concurrency.Max();

        using (var batched = MoeEngine.Load(options))
        {
            var config = batched.Config;
            if (settings.PromptTokens + settings.MaxTokens > batched.ContextLength)
            {
                throw new ArgumentException($"--prompt-tokens ({settings.PromptTokens}) + --max-tokens ({settings.MaxTokens}) exceed the model's context length {batched.ContextLength}.");
            }

            model = batched.ModelName;
            (promptSource, string sourceName) = LoadPrompts(batched, top * settings.PromptTokens);
            benchSettings = new BenchSettings(
                settings.PromptTokens,
                settings.MaxTokens,
                options.ExpertWorkers,
                batched.SessionResources.IntraOpThreads,
                RoutingPolicyFactory.NameOf(options.Routing),
                options.ExecutionProvider.ToString(),
                batched.Devices.Select(d => $"{d.DeviceId}:{d.ProviderUsed}{(d.FellBack ? " (fell back)" : string.Empty)}").ToArray(),
                config.Layers,
                config.Experts,
                config.TopK,
                config.DModel,
                config.ExpertHidden,
                Environment.ProcessorCount,
                sourceName,
                LoadAverage());
            note = DescribeWeights(batched.Manifest);
            if (settings.Peak)
            {
                progress?.Invoke("measuring the matrix-multiply peak ...");
                peak = MeasurePeak(options.ExpertWorkers);
                progress?.Invoke("measuring one expert Run's cost per token count ...");
                expertCost = ExpertCostProbe.Measure(batched);
            }

            // Variants run interleaved, repeated, and the median run (by tokens/s) is reported: on a shared
            // machine the load drifts, and back-to-back blocks would charge the drift to one variant.
            using var perToken = settings.Baseline ? MoeEngine.Load(options with { Dispatch = ExpertDispatchMode.PerToken }) : null;
            using var otherSessions = settings.CompareSessions ? MoeEngine.Load(options with { ShareSessionResources = !options.ShareSessionResources }) : null;
            var otherDType = options.KvCacheDType == KvCacheDType.Float16 ? KvCacheDType.Float32 : KvCacheDType.Float16;
            using var otherKvCache = settings.CompareKvCache ? MoeEngine.Load(options with { KvCacheDType = otherDType }) : null;
            Warm(batched, promptSource);
            if (otherKvCache is not null)
            {
                Warm(otherKvCache, promptSource);
            }

            if (otherSessions is not null)
            {
                Warm(otherSessions, promptSource);
            }

            if (perToken is not null)
            {
                Warm(perToken, promptSource);
            }

            using var peer = settings.Peer is null ? null : CreatePeer(promptSource);
            var peerLevels = new List<BenchPeerLevel>();

            foreach (int c in settings.Concurrency)
            {
                cancellation.ThrowIfCancellationRequested();
                progress?.Invoke($"concurrency {c}: batched per-expert dispatch{(perToken is null ? string.Empty : " and the per-token baseline")}, {settings.Repeat} interleaved runs ...");
                var batchedRuns = new List<BenchRun>();
                var perTokenRuns = new List<BenchRun>();
                var peerRuns = new List<Peer.PeerDecodeRun>();
                var otherRuns = new List<BenchRun>();
                var otherKvRuns = new List<BenchRun>();
                for (int r = 0; r < settings.Repeat; r++)
                {
                    batchedRuns.Add(Decode(batched, c, promptSource, cancellation));
                    if (otherKvCache is not null)
                    {
                        otherKvRuns.Add(Decode(otherKvCache, c, promptSource, cancellation));
                    }

                    if (otherSessions is not null)
                    {
                        otherRuns.Add(Decode(otherSessions, c, promptSource, cancellation));
                    }
                    if (perToken is not null)
                    {
                        perTokenRuns.Add(Decode(perToken, c, promptSource, cancellation));
                    }

                    if (peer is not null)
                    {
                        peerRuns.Add(peer.Decode(c, promptSource, settings.PromptTokens, settings.MaxTokens, cancellation));
                    }
                }

                var run = Median(batchedRuns);
                if (peer is not null)
                {
                    var peerRun = peerRuns.OrderBy(p => p.DecodeTokensPerSecond).ElementAt(peerRuns.Count / 2);
                    peerLevels.Add(new BenchPeerLevel(
                        c,
                        peerRun,
                        run.DecodeTokensPerSecond,
                        run.DecodeTokensPerSecond / peerRun.DecodeTokensPerSecond,
                        run.MedianStepTokensPerSecond / peerRun.MedianStepTokensPerSecond,
                        Percentile(batchedRuns.Select(b => b.PrefillSeconds * 1000).Order().ToArray(), 0.5),
                        Percentile(peerRuns.Select(p => p.PrefillSeconds * 1000).Order().ToArray(), 0.5)));
                }

                var baseline = perToken is null ? null : Median(perTokenRuns);
                levels.Add(new BenchLevel(
                    c,
                    run,
                    baseline,
                    baseline is null ? null : run.DecodeTokensPerSecond / baseline.DecodeTokensPerSecond,
                    baseline is null ? null : run.MedianStepTokensPerSecond / baseline.MedianStepTokensPerSecond,
                    baseline is null ? null : baseline.ExpertPhaseMsPerStep / run.ExpertPhaseMsPerStep,
                    baseline is null ? null : baseline.CpuMsPerToken / run.CpuMsPerToken,
                    peak is null ? null : run.ExpertGflopsPerThread / peak.GflopsOneThread,
                    expertCost is null ? null : ExpertCostProbe.PredictedGain(expertCost, (double)c * config.Layers * config.TopK, run.ExpertRunsPerStep),
                    otherSessions is null ? null : options.ShareSessionResources ? BenchSessionsComparison.Of(run, Median(otherRuns)) : BenchSessionsComparison.Of(Median(otherRuns), run),
                    otherKvCache is null ? null : options.KvCacheDType == KvCacheDType.Float16 ? BenchKvCacheComparison.Of(run, Median(otherKvRuns)) : BenchKvCacheComparison.Of(Median(otherKvRuns), run)));
            }

            if (peer is not null)
            {
                string gguf = settings.PeerGguf is null ? "F16 llama-architecture GGUF written from the model's graphs" : $"the given GGUF {settings.PeerGguf}";
                peerReport = new BenchPeerReport(settings.Peer!, gguf, settings.PeerThreads, BenchPeer.DescribeMachine(benchSettings.LoadAverageAtStart, peer.SystemInfo), peerLevels, LoadAverage(), peer.ProcessId);
            }

            if (settings.Bandwidth)
            {
                // After the decode runs, so the 2 GB of buffers do not sit in memory beside both engines while they are timed.
                bandwidth = BenchBandwidth.Measure(options.ModelPath, settings.Peer is null ? null : peer?.GgufPath, options.ExpertWorkers, progress);
            }

            if (settings.CompareRouting)
            {
                progress?.Invoke($"concurrency {top}: trained q vs plain top-K vs online BIP, {settings.Repeat} interleaved runs ...");
                using var trained = MoeEngine.Load(options with { Routing = RoutingMethod.BiasedTopK });
                using var topK = MoeEngine.Load(options with { Routing = RoutingMethod.TopK });
                using var bip = MoeEngine.Load(options with { Routing = RoutingMethod.Bip });
                var engines = new[] { trained, topK, bip };
                var runs = engines.Select(_ => new List<BenchRun>()).ToArray();
                foreach (var engine in engines)
                {
                    Warm(engine, promptSource);
                }

                for (int r = 0; r < settings.Repeat; r++)
                {
                    for (int e = 0; e < engines.Length; e++)
                    {
                        cancellation.ThrowIfCancellationRequested();
                        runs[e].Add(Decode(engines[e], top, promptSource, cancellation));
                    }
                }

                comparison = new BenchRoutingComparison(top, Median(runs[0]), Median(runs[1]), Median(runs[2]));
            }
        }

        return new BenchReport(model, benchSettings!, levels, comparison, peak, expertCost, note, peerReport, bandwidth);
    }

    private IBenchPeerEngine CreatePeer(int[] promptSource)
    {
        string where = settings.PeerProcess ? "in a child process" : "in this process";
        progress?.Invoke(settings.PeerGguf is null
            ? $"peer {settings.Peer}: writing the model as a GGUF and loading it in llama.cpp {where} ({settings.PeerThreads} threads) ..."
            : $"peer {settings.Peer}: loading {settings.PeerGguf} in llama.cpp {where} ({settings.PeerThreads} threads) ...");
        if (settings.PeerProcess)
        {
            // The child writes the GGUF, loads it and warms up itself; this process never loads llama.cpp.
            return BenchPeerProcess.Start(options.ModelPath, settings.PeerThreads, settings.PeerGguf, promptSource, settings.PromptTokens);
        }

        var peer = BenchPeer.Create(options.ModelPath, settings.PeerThreads, settings.PeerGguf);
        peer.Warm(promptSource, settings.PromptTokens);
        return peer;
    }

    private static string DescribeWeights(ModelManifest manifest)
    {
        var steps = manifest.Training?["steps"];
        bool random = steps is not null && steps.GetValueKind() == System.Text.Json.JsonValueKind.Number && steps.GetValue<double>() == 0;
        string method = manifest.Routing.Method;
        return random
            ? $"RANDOM (untrained) weights, q from '{method}': speeds are representative of this model size; MaxVio and routing comparisons reflect random routers, not a trained model."
            : $"trained weights, balancing method '{method}'.";
    }

    private (int[] Tokens, string Source) LoadPrompts(MoeEngine engine, int needed)
    {
        if (!File.Exists(settings.DataPath) && IsDefaultCorpusFile(settings.DataPath))
        {
            // A fresh clone has no corpus yet: build it when the packages are there. A benchmark installs
            // nothing; without them the prompts fall back to random ids, and the printed command says how to get real text.
            var lines = new StringWriter();
            int built = new CorpusPreparer(lines, lines).EnsureDefaultCorpus(Path.GetDirectoryName(settings.DataPath)!, allowInstall: false);
            foreach (string line in lines.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                progress?.Invoke(line);
            }

            if (built != 0)
            {
                progress?.Invoke("prompts fall back to random token ids.");
            }
        }

        if (File.Exists(settings.DataPath))
        {
            // A prefix of the file is enough; a few characters per token.
            using var reader = new StreamReader(settings.DataPath);
            var buffer = new char[Math.Min(4_000_000, (needed * 8) + 4096)];
            int read = reader.ReadBlock(buffer, 0, buffer.Length);
            var ids = engine.Tokenizer.EncodeToIds(new string(buffer, 0, read)).Where(id => id < engine.VocabSize).ToArray();
            if (ids.Length >= needed)
            {
                return (ids, settings.DataPath);
            }
        }

        var random = new Random(1234);
        return (Enumerable.Range(0, needed).Select(_ => random.Next(engine.VocabSize)).ToArray(), "random token ids (seed 1234)");
    }

    private static bool IsDefaultCorpusFile(string path) =>
        Path.GetFullPath(path) == Path.GetFullPath(Path.Combine(CorpusPreparer.DefaultDirectory, MoeServe.Text.Corpus.CorpusBuilder.ValidationFileName));

    private void Warm(MoeEngine engine, int[] prompts)
    {
        using var cache = engine.CreateCache();
        var logits = new float[engine.VocabSize];
        engine.Forward([new ForwardItem(cache, prompts.AsMemory(0, Math.Min(settings.PromptTokens, prompts.Length)))], logits);
        // Enough steps for .NET's tiered JIT to promote the hot loop (tier-0 code is several times slower).
        for (int i = 0; i < 64 && cache.Remaining > 0; i++)
        {
            engine.Forward([new ForwardItem(cache, new[] { TensorPrimitives.IndexOfMax(logits) })], logits);
        }
    }

    private BenchRun Decode(MoeEngine engine, int c, int[] prompts, CancellationToken cancellation)
    {
        var config = engine.Config;
        int v = engine.VocabSize;
        int layers = config.Layers;
        int m = config.Experts;
        var caches = new KvCache[c];
        var items = new ForwardItem[c];
        var nextTokens = new int[c][];
        var logits = new float[c * v];
        var stats = engine.CreateStatistics();
        var latencies = new double[settings.MaxTokens];
        var tokensPerExpert = new double[m];
        var totals = new long[layers][];
        for (int l = 0; l < layers; l++)
        {
            totals[l] = new long[m];
        }

        double runs = 0, routedTokens = 0, maxBatch = 0, makespan = 0, busy = 0, maxVio = 0, runSeconds = 0, dense = 0, attention = 0, head = 0, router = 0, experts = 0, total = 0;
        double flopsPerToken = 6.0 * config.DModel * config.ExpertHidden;
        try
        {
            for (int i = 0; i < c; i++)
            {
                caches[i] = engine.CreateCache();
                nextTokens[i] = new int[1];
                int start = (i * settings.PromptTokens) % Math.Max(1, prompts.Length - settings.PromptTokens);
                items[i] = new ForwardItem(caches[i], prompts.AsMemory(start, settings.PromptTokens));
            }

            long prefillStart = Stopwatch.GetTimestamp();
            engine.Forward(items, logits);
            double prefill = Stopwatch.GetElapsedTime(prefillStart).TotalSeconds;
            long allocatedBefore = GC.GetTotalAllocatedBytes(precise: false);
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            long decodeStart = Stopwatch.GetTimestamp();
            for (int step = 0; step < settings.MaxTokens; step++)
            {
                cancellation.ThrowIfCancellationRequested();
                for (int i = 0; i < c; i++)
                {
                    nextTokens[i][0] = TensorPrimitives.IndexOfMax(logits.AsSpan(i * v, v));
                    items[i] = new ForwardItem(caches[i], nextTokens[i]);
                }

                long t0 = Stopwatch.GetTimestamp();
                engine.Forward(items, logits, stats);
                latencies[step] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;

                runs += stats.ExpertRuns;
                makespan += stats.TotalMakespanSeconds;
                maxVio += stats.MeanMaxVio;
                dense += stats.DenseSeconds;
                attention += stats.AttentionSeconds;
                head += stats.HeadSeconds + stats.EmbedSeconds;
                router += stats.RouterSeconds;
                experts += stats.ExpertPhaseSeconds;
                total += stats.TotalSeconds;
                for (int l = 0; l < layers; l++)
                {
                    var loads = stats.ExpertTokens(l);
                    var seconds = stats.ExpertRunSeconds(l);
                    for (int j = 0; j < m; j++)
                    {
                        routedTokens += loads[j];
                        maxBatch = Math.Max(maxBatch, loads[j]);
                        tokensPerExpert[j] += loads[j];
                        totals[l][j] += loads[j];
                        runSeconds += seconds[j];
                    }

                    foreach (double w in stats.WorkerBusySeconds(l))
                    {
                        busy += w;
                    }
                }
            }

            double decode = Stopwatch.GetElapsedTime(decodeStart).TotalSeconds;
            long allocated = GC.GetTotalAllocatedBytes(precise: false) - allocatedBefore;

            // CPU time of the whole process: on a shared machine it measures the work, where wall time
            // also measures the neighbours.
            double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds;
            int steps = settings.MaxTokens;
            var sorted = latencies.Order().ToArray();
            bool perToken = engine.Options.Dispatch == ExpertDispatchMode.PerToken;
            return new BenchRun(
                perToken ? "perToken" : "batched",
                RoutingPolicyFactory.NameOf(engine.Options.Routing),
                steps,
                prefill,
                decode,
                c * steps / decode,
                c * 1000 / Percentile(sorted, 0.5),
                new BenchLatency(latencies.Average(), Percentile(sorted, 0.5), Percentile(sorted, 0.95), sorted[^1]),
                runs / steps,
                runs > 0 ? routedTokens / runs : 0,
                perToken ? 1 : maxBatch,
                tokensPerExpert.Select(t => t / (steps * layers)).ToArray(),
                makespan * 1000 / (steps * layers),
                makespan * 1000 / steps,
                busy * 1000 / steps,
                experts * 1000 / steps,
                dense * 1000 / steps,
                attention * 1000 / steps,
                head * 1000 / steps,
                router * 1000 / steps,
                maxVio / steps,
                totals.Average(t => LoadStatistics.MaxViolation(t)),
                runSeconds > 0 ? routedTokens * flopsPerToken / runSeconds / 1e9 : 0,
                (double)allocated / steps,
                cpu / (c * steps),
                dense / total,
                experts / total);
        }
        finally
        {
            foreach (var cache in caches)
            {
                cache?.Dispose();
            }
        }
    }

    private static string LoadAverage()
    {
        try
        {
            return File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static BenchRun Median(List<BenchRun> runs) => runs.OrderBy(r => r.DecodeTokensPerSecond).ElementAt(runs.Count / 2);

    private static double Percentile(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Floor(q * (sorted.Length - 1) + 0.5))];

    /// <summary>GFLOP/s of an ONNX MatMul [n, n] x [n, n] on one single-threaded session: once from one thread, once from every worker at the same time.</summary>
    private static BenchPeak MeasurePeak(int workers)
    {
        const int n = 512;
        var random = new Random(5);
        var weights = Enumerable.Range(0, n * n).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        byte[] bytes = ProbeGraphs.MatMul(n, weights).ToByteArray();
        using var sessionOptions = SingleThreadedCpuOptions();
        using var session = new InferenceSession(bytes, sessionOptions);
        double flopsPerRun = 2.0 * n * n * n;

        double RunFor(TimeSpan duration)
        {
            var input = new float[n * n];
            using var inValue = OrtValue.CreateTensorValueFromMemory(input, [n, n]);
            var output = new float[n * n];
            using var outValue = OrtValue.CreateTensorValueFromMemory(output, [n, n]);
            using var runOptions = new RunOptions();
            string[] inNames = [ProbeGraphs.MatMulInput];
            string[] outNames = [ProbeGraphs.MatMulOutput];
            OrtValue[] ins = [inValue];
            OrtValue[] outs = [outValue];
            for (int i = 0; i < 2; i++)
            {
                session.Run(runOptions, inNames, ins, outNames, outs);
            }

            int count = 0;
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < duration)
            {
                session.Run(runOptions, inNames, ins, outNames, outs);
                count++;
            }

            return count * flopsPerRun / clock.Elapsed.TotalSeconds / 1e9;
        }

        double one = RunFor(TimeSpan.FromSeconds(1));
        var results = new double[workers];
        var threads = Enumerable.Range(0, workers).Select(i => new Thread(() => results[i] = RunFor(TimeSpan.FromSeconds(1)))).ToArray();
        foreach (var t in threads)
        {
            t.Start();
        }

        foreach (var t in threads)
        {
            t.Join();
        }

        return new BenchPeak(n, Math.Round(one, 2), Math.Round(results.Sum(), 2), workers);
    }

    /// <summary>Options of bench's own probe sessions: CPU, one thread, no spinning, like the runtime's sessions.</summary>
    internal static SessionOptions SingleThreadedCpuOptions()
    {
        var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        return options;
    }
}
