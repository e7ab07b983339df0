using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Numerics.Tensors;

using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MoeServe.Model;
using MoeServe.Router;
using MoeServe.Runtime;
using MoeServe.Runtime.Caching;
using Onnx;

namespace MoeServe.Cli.Commands;

/// <summary>Runs bench's measurements: one engine per dispatch/routing variant, greedy decode of c sequences at once.</summary>
internal sealed class BenchRunner(RuntimeOptions options, BenchRunner.Settings settings, Action<string>? progress)
{
    /// <summary>What to measure.</summary>
    internal sealed record Settings(IReadOnlyList<int> Concurrency, int MaxTokens, int PromptTokens, string DataPath, bool Baseline, bool CompareRouting, bool Peak);

    public BenchReport Run(CancellationToken cancellation)
    {
        var levels = new List<BenchLevel>();
        BenchRoutingComparison? comparison = null;
        BenchSettings? benchSettings = null;
        string model = string.Empty;
        string note = string.Empty;
        int[] promptSource = [];
        BenchPeak? peak = null;
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
                options.IntraOpThreads,
                options.Routing.ToString(),
                options.ExecutionProvider.ToString(),
                batched.Devices.Select(d => $"{d.DeviceId}:{d.ProviderUsed}{(d.FellBack ? " (fell back)" : string.Empty)}").ToArray(),
                config.Layers,
                config.Experts,
                config.TopK,
                config.DModel,
                config.ExpertHidden,
                Environment.ProcessorCount,
                sourceName);
            note = DescribeWeights(batched.Manifest);
            if (settings.Peak)
            {
                progress?.Invoke("measuring the matrix-multiply peak ...");
                peak = MeasurePeak(options.ExpertWorkers);
            }

            Warm(batched, promptSource);
            foreach (int c in settings.Concurrency)
            {
                cancellation.ThrowIfCancellationRequested();
                progress?.Invoke($"concurrency {c}: batched per-expert dispatch ...");
                var run = Decode(batched, c, promptSource, cancellation);
                levels.Add(new BenchLevel(c, run, null, null, peak is null ? null : run.ExpertGflopsPerThread / peak.GflopsOneThread));
            }
        }

        if (settings.Baseline)
        {
            using var perToken = MoeEngine.Load(options with { Dispatch = ExpertDispatchMode.PerToken });
            Warm(perToken, promptSource);
            for (int i = 0; i < levels.Count; i++)
            {
                cancellation.ThrowIfCancellationRequested();
                progress?.Invoke($"concurrency {levels[i].Concurrency}: per-token dispatch baseline ...");
                var run = Decode(perToken, levels[i].Concurrency, promptSource, cancellation);
                levels[i] = levels[i] with { PerToken = run, BatchingGain = levels[i].Batched.DecodeTokensPerSecond / run.DecodeTokensPerSecond };
            }
        }

        if (settings.CompareRouting)
        {
            progress?.Invoke($"concurrency {top}: trained q vs plain top-K vs online BIP ...");
            var trained = options.Routing == RoutingPolicyKind.Trained ? levels.Last(l => l.Concurrency == top).Batched : DecodeWith(RoutingPolicyKind.Trained, top, promptSource, cancellation);
            var topK = DecodeWith(RoutingPolicyKind.TopK, top, promptSource, cancellation);
            var bip = DecodeWith(RoutingPolicyKind.OnlineBip, top, promptSource, cancellation);
            comparison = new BenchRoutingComparison(top, trained, topK, bip);
        }

        return new BenchReport(model, benchSettings!, levels, comparison, peak, note);
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

    private BenchRun DecodeWith(RoutingPolicyKind routing, int c, int[] prompts, CancellationToken cancellation)
    {
        using var engine = MoeEngine.Load(options with { Routing = routing });
        Warm(engine, prompts);
        return Decode(engine, c, prompts, cancellation);
    }

    private (int[] Tokens, string Source) LoadPrompts(MoeEngine engine, int needed)
    {
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

    private void Warm(MoeEngine engine, int[] prompts)
    {
        using var cache = engine.CreateCache();
        var logits = new float[engine.VocabSize];
        engine.Forward([new ForwardItem(cache, prompts.AsMemory(0, Math.Min(settings.PromptTokens, prompts.Length)))], logits);
        for (int i = 0; i < 3 && cache.Remaining > 0; i++)
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

        double runs = 0, routedTokens = 0, maxBatch = 0, makespan = 0, busy = 0, maxVio = 0, runSeconds = 0, dense = 0, experts = 0, total = 0;
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
            int steps = settings.MaxTokens;
            var sorted = latencies.Order().ToArray();
            bool perToken = engine.Options.Dispatch == ExpertDispatchMode.PerToken;
            return new BenchRun(
                perToken ? "perToken" : "batched",
                engine.Options.Routing.ToString(),
                steps,
                prefill,
                decode,
                c * steps / decode,
                new BenchLatency(latencies.Average(), Percentile(sorted, 0.5), Percentile(sorted, 0.95), sorted[^1]),
                runs / steps,
                runs > 0 ? routedTokens / runs : 0,
                perToken ? 1 : maxBatch,
                tokensPerExpert.Select(t => t / (steps * layers)).ToArray(),
                makespan * 1000 / (steps * layers),
                makespan * 1000 / steps,
                busy * 1000 / steps,
                maxVio / steps,
                totals.Average(t => LoadStatistics.MaxViolation(t)),
                runSeconds > 0 ? routedTokens * flopsPerToken / runSeconds / 1e9 : 0,
                (double)allocated / steps,
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

    private static double Percentile(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Floor(q * (sorted.Length - 1) + 0.5))];

    /// <summary>GFLOP/s of an ONNX MatMul [n, n] x [n, n] on one single-threaded session: once from one thread, once from every worker at the same time.</summary>
    private static BenchPeak MeasurePeak(int workers)
    {
        const int n = 512;
        var random = new Random(5);
        var weights = Enumerable.Range(0, n * n).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        byte[] bytes = MatMulModel(n, weights).ToByteArray();
        using var sessionOptions = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        using var session = new InferenceSession(bytes, sessionOptions);
        double flopsPerRun = 2.0 * n * n * n;

        double RunFor(TimeSpan duration)
        {
            var input = new float[n * n];
            using var inValue = OrtValue.CreateTensorValueFromMemory(input, [n, n]);
            var output = new float[n * n];
            using var outValue = OrtValue.CreateTensorValueFromMemory(output, [n, n]);
            using var runOptions = new RunOptions();
            string[] inNames = ["x"];
            string[] outNames = ["y"];
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

    /// <summary>y [N, n] = x [N, n] W [n, n]: one ONNX MatMul (opset 17) with W as an initializer.</summary>
    private static ModelProto MatMulModel(int n, float[] weights)
    {
        static ValueInfoProto Value(string name, int n) => new()
        {
            Name = name,
            Type = new TypeProto
            {
                TensorType = new TypeProto.Types.Tensor
                {
                    ElemType = (int)TensorProto.Types.DataType.Float,
                    Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimParam = "N" }, new TensorShapeProto.Types.Dimension { DimValue = n } } },
                },
            },
        };

        var w = new TensorProto { Name = "w", DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(weights.AsSpan())) };
        w.Dims.Add(n);
        w.Dims.Add(n);
        var graph = new GraphProto { Name = "matmul_peak" };
        graph.Input.Add(Value("x", n));
        graph.Output.Add(Value("y", n));
        graph.Initializer.Add(w);
        graph.Node.Add(new NodeProto { OpType = "MatMul", Input = { "x", "w" }, Output = { "y" } });
        var model = new ModelProto { IrVersion = 8, Graph = graph, ProducerName = "MoeServe bench" };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = 17 });
        return model;
    }
}
