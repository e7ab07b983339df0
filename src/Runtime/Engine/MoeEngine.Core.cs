using System.Diagnostics;
using System.Numerics.Tensors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using MoeServe.Model;
using MoeServe.Router;
using MoeServe.Runtime.Caching;
using MoeServe.Runtime.Experts;
using MoeServe.Runtime.Sessions;
using MoeServe.Text.Tokenization;

namespace MoeServe.Runtime;

public sealed partial class MoeEngine
{
    private readonly ILogger _logger;
    private readonly KvCachePool _cachePool;
    private readonly List<IDisposable> _owned = [];
    private readonly GraphSession _embed;
    private readonly GraphSession _head;
    private readonly GraphSession[] _qkv;
    private readonly GraphSession[] _post;
    private readonly GraphSession?[] _shared;
    private readonly ExpertExecutor[][] _experts;
    private readonly IRoutingPolicy[] _policies;
    private readonly DispatchPlan _plan = new();
    private readonly WorkerPool _pool;
    private readonly WorkerSlots[] _slots;
    private readonly Workspace _ws;
    private readonly RunOptions _runOptions = new();
    private readonly Router.ScoreFunction _scoreFunction;
    private readonly AttentionPhase _attentionPhase;
    private readonly ExpertPhase _expertPhase;
    private readonly PerTokenPhase _perTokenPhase;
    private long _cpuFallbackRuns;
    private int _stepFallbacks;
    private int _stepStamp;
    private bool _disposed;

    private MoeEngine(RuntimeOptions options, ILoggerFactory? loggerFactory, ICudaProbe? cudaProbe)
    {
        Options = options;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("MoeServe.Runtime.MoeEngine");
        ModelDirectory = ResolveDirectory(options.ModelPath);
        Manifest = ModelManifest.Load(ModelDirectory);
        Config = Manifest.Config;
        ModelName = Manifest.Name;
        var placementErrors = DevicePlacement.Check(options, Config.Experts);
        if (placementErrors.Count > 0)
        {
            throw new ArgumentException("Invalid runtime options:" + Environment.NewLine + "  - " + string.Join(Environment.NewLine + "  - ", placementErrors));
        }

        string tokenizerDirectory = Path.GetDirectoryName(Path.GetFullPath(Path.Combine(ModelDirectory, Manifest.Tokenizer.Description)))!;
        Tokenizer = TokenizerFiles.Load(tokenizerDirectory);
        EndOfTextTokenId = Manifest.EndOfTextId;

        int layers = Config.Layers;
        int m = Config.Experts;
        _qkv = new GraphSession[layers];
        _post = new GraphSession[layers];
        _shared = new GraphSession?[layers];
        _experts = new ExpertExecutor[layers][];
        var factory = new SessionFactory(options, _logger, cudaProbe);
        var breakers = options.Resilience.Enabled ? new DeviceCircuitBreakers(options, _logger) : null;
        var errors = new List<string>();
        int mainDevice = options.Devices[0];
        try
        {
            _embed = Open(factory, Manifest.Graphs.Embed, mainDevice, [GraphNames.InputIds], [GraphNames.Hidden], errors)!;
            _head = Open(factory, Manifest.Graphs.Head, mainDevice, [GraphNames.Hidden], [GraphNames.Logits], errors)!;
            for (int l = 0; l < layers; l++)
            {
                var layer = Manifest.Graphs.Layers[l];
                _qkv[l] = Open(factory, layer.Qkv, mainDevice, [GraphNames.Hidden, GraphNames.Positions], [GraphNames.Query, GraphNames.Key, GraphNames.Value], errors)!;
                _post[l] = Open(factory, layer.Post, mainDevice, [GraphNames.Hidden, GraphNames.Attention], [GraphNames.Residual, GraphNames.FfnInput, GraphNames.RouterLogits], errors)!;
                if (layer.Shared is not null)
                {
                    _shared[l] = Open(factory, layer.Shared, mainDevice, [GraphNames.ExpertInput], [GraphNames.ExpertOutput], errors);
                }

                _experts[l] = new ExpertExecutor[m];
                for (int j = 0; j < m; j++)
                {
                    int device = DevicePlacement.DeviceOf(options, j);
                    string file = layer.Experts[j];
                    var primary = Open(factory, file, device, [GraphNames.ExpertInput], [GraphNames.ExpertOutput], errors);
                    if (primary is null)
                    {
                        continue;
                    }

                    string path = Path.Combine(ModelDirectory, file);
                    var executor = new ExpertExecutor(
                        l,
                        j,
                        device,
                        primary,
                        () => new GraphSession(factory.CreateCpu(path), file, [GraphNames.ExpertInput], [GraphNames.ExpertOutput]),
                        breakers?.For(device),
                        options.FaultInjector);
                    _owned.Remove(primary);
                    _owned.Add(executor);
                    _experts[l][j] = executor;
                }
            }

            if (errors.Count > 0)
            {
                throw new InvalidDataException($"Cannot load model '{ModelDirectory}':" + Environment.NewLine + "  - " + string.Join(Environment.NewLine + "  - ", errors));
            }
        }
        catch
        {
            DisposeOwned();
            throw;
        }

        Devices = options.Devices
            .Select(d => factory.Report(d, layers * Enumerable.Range(0, m).Count(j => DevicePlacement.DeviceOf(options, j) == d)))
            .ToArray();
        _scoreFunction = Config.ScoreFunction == Model.ScoreFunction.Sigmoid ? Router.ScoreFunction.Sigmoid : Router.ScoreFunction.Softmax;
        _policies = CreatePolicies(options, Manifest);
        _cachePool = new KvCachePool(layers, Config.Heads, Config.HeadDim, Config.ContextLength, options.MaxSequences);
        _ws = new Workspace(options.MaxBatchTokens, options.MaxSequences, Config.DModel, m, Config.TopK, Config.VocabSize, options.ExpertWorkers);
        _pool = new WorkerPool(options.ExpertWorkers);
        _slots = Enumerable.Range(0, options.ExpertWorkers).Select(_ => new WorkerSlots(Config.ContextLength)).ToArray();
        _attentionPhase = new AttentionPhase(this);
        _expertPhase = new ExpertPhase(this);
        _perTokenPhase = new PerTokenPhase(this);
        LogLoaded(_logger, ModelName, layers, m, string.Join(", ", Devices.Select(d => $"{d.DeviceId}:{d.ProviderUsed}")), options.Routing, options.ExpertWorkers);
    }

    /// <summary>Load with a replaced CUDA probe (tests simulate machines where appending CUDA fails in other ways).</summary>
    internal static MoeEngine Load(RuntimeOptions options, ILoggerFactory? loggerFactory, ICudaProbe? cudaProbe)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.EnsureValid();
        return new MoeEngine(options, loggerFactory, cudaProbe);
    }

    private static string ResolveDirectory(string modelPath)
    {
        string full = Path.GetFullPath(modelPath);
        if (File.Exists(full) && string.Equals(Path.GetFileName(full), ModelManifest.FileName, StringComparison.Ordinal))
        {
            return Path.GetDirectoryName(full)!;
        }

        if (!Directory.Exists(full))
        {
            throw new DirectoryNotFoundException($"modelPath: model directory not found: {modelPath} (expected models/NAME with a {ModelManifest.FileName}).");
        }

        return full;
    }

    private static IRoutingPolicy[] CreatePolicies(RuntimeOptions options, ModelManifest manifest)
    {
        var routing = manifest.Routing;
        return Enumerable.Range(0, manifest.Config.Layers).Select<int, IRoutingPolicy>(l => options.Routing switch
        {
            RoutingPolicyKind.Trained => new BiasedTopKPolicy(routing.Q[l], routing.Renormalize),
            RoutingPolicyKind.TopK => new TopKPolicy(routing.Renormalize),
            RoutingPolicyKind.OnlineBip => new BipBalancer((float[])routing.Q[l].Clone(), new BipOptions { Iterations = options.OnlineBipIterations, MinTokensPerUpdate = options.OnlineBipMinTokens ?? manifest.Config.Experts }, routing.Renormalize),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Routing, "Unknown routing policy."),
        }).ToArray();
    }

    private GraphSession? Open(SessionFactory factory, string file, int device, string[] inputs, string[] outputs, List<string> errors)
    {
        string path = Path.Combine(ModelDirectory, file);
        try
        {
            var session = new GraphSession(factory.Create(path, device), file, inputs, outputs);
            _owned.Add(session);
            return session;
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or InvalidDataException or FileNotFoundException)
        {
            errors.Add($"{file}: {ex.Message}");
            return null;
        }
    }

    private void ValidateBatch(ReadOnlySpan<ForwardItem> batch, int logitsLength, ForwardStatistics? statistics, bool allPositions)
    {
        if (batch.IsEmpty)
        {
            throw new ArgumentException("The batch is empty.", nameof(batch));
        }

        if (batch.Length > Options.MaxSequences)
        {
            throw new ArgumentException($"The batch has {batch.Length} sequences; maxSequences is {Options.MaxSequences}.", nameof(batch));
        }

        long rows = batch.Length;
        if (allPositions)
        {
            rows = 0;
            foreach (var item in batch)
            {
                rows += item.Tokens.Length;
            }
        }

        if (logitsLength < rows * VocabSize)
        {
            throw new ArgumentException($"logits holds {logitsLength} floats; {rows} rows of logits need {rows * VocabSize}.", "logits");
        }

        if (statistics is not null && (statistics.Layers != Config.Layers || statistics.Experts != Config.Experts || statistics.Workers != Options.ExpertWorkers))
        {
            throw new ArgumentException("statistics was not made for this engine; use CreateStatistics().", nameof(statistics));
        }

        int stamp = ++_stepStamp;
        long tokens = 0;
        for (int i = 0; i < batch.Length; i++)
        {
            var item = batch[i];
            var cache = item.Cache ?? throw new ArgumentException($"batch[{i}] has no cache.", nameof(batch));
            if (!ReferenceEquals(cache.Owner, this))
            {
                throw new ArgumentException($"batch[{i}]: the cache belongs to another engine.", nameof(batch));
            }

            ObjectDisposedException.ThrowIf(cache.IsDisposed, cache);
            if (cache.StepStamp == stamp)
            {
                throw new ArgumentException($"batch[{i}]: the same cache appears twice in one step.", nameof(batch));
            }

            cache.StepStamp = stamp;
            int t = item.Tokens.Length;
            if (t == 0)
            {
                throw new ArgumentException($"batch[{i}] has no tokens.", nameof(batch));
            }

            if (t > cache.Remaining)
            {
                throw new ArgumentException($"batch[{i}]: {t} tokens do not fit: the cache holds {cache.Length} of {cache.Capacity} (context length).", nameof(batch));
            }

            foreach (int id in item.Tokens.Span)
            {
                if ((uint)id >= (uint)VocabSize)
                {
                    throw new ArgumentException($"batch[{i}]: token id {id} is outside the vocabulary [0, {VocabSize}).", nameof(batch));
                }
            }

            tokens += t;
        }

        if (tokens > Options.MaxBatchTokens)
        {
            throw new ArgumentException($"The batch has {tokens} tokens; maxBatchTokens is {Options.MaxBatchTokens}. Split the prefill into chunks.", nameof(batch));
        }
    }

    private void ForwardCore(ReadOnlySpan<ForwardItem> batch, Span<float> logits, ForwardStatistics? stats, bool allPositions)
    {
        long stepStart = Stopwatch.GetTimestamp();
        stats?.Reset();
        _stepFallbacks = 0;
        var ws = _ws;
        int d = Config.DModel;
        int n = batch.Length;

        // Token offsets, ids and positions (the same for every layer).
        int total = 0;
        for (int i = 0; i < n; i++)
        {
            ws.TokenOffsets[i] = total;
            total += batch[i].Tokens.Length;
        }

        for (int i = 0; i < n; i++)
        {
            var item = batch[i];
            var ids = item.Tokens.Span;
            int off = ws.TokenOffsets[i];
            int p = item.Cache.Length;
            int t = ids.Length;
            for (int j = 0; j < t; j++)
            {
                ws.Ids[off + j] = ids[j];
                ws.Positions[off + j] = p + j;
            }
        }

        long t0 = Stopwatch.GetTimestamp();
        RunEmbed(total);
        double embedSeconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        double denseSeconds = 0;
        double attentionSeconds = 0;
        double routerSeconds = 0;
        double expertSeconds = 0;
        _attentionPhase.Begin(batch);
        for (int i = 0; i < n; i++)
        {
            ws.ItemOrder[i] = i;
        }

        for (int l = 0; l < Config.Layers; l++)
        {
            // Dense part: one qkv Run over all tokens, attention per sequence against its cache, one post Run.
            t0 = Stopwatch.GetTimestamp();
            RunQkv(l, total);
            long ta = Stopwatch.GetTimestamp();
            _attentionPhase.Layer = l;
            _pool.Run(_attentionPhase, ws.ItemOrder, n, inline: total < Options.MinParallelTokens);
            attentionSeconds += Stopwatch.GetElapsedTime(ta).TotalSeconds;
            RunPost(l, total);
            long t1 = Stopwatch.GetTimestamp();
            denseSeconds += Stopwatch.GetElapsedTime(t0, t1).TotalSeconds;

            Route(l, total);
            long t2 = Stopwatch.GetTimestamp();
            routerSeconds += Stopwatch.GetElapsedTime(t1, t2).TotalSeconds;

            RunExperts(l, total, stats);
            ws.SwapHidden();
            expertSeconds += Stopwatch.GetElapsedTime(t2).TotalSeconds;
        }

        _attentionPhase.End();
        t0 = Stopwatch.GetTimestamp();
        if (allPositions)
        {
            var all = ws.EnsureAllLogits(total * VocabSize);
            RunHead(ws.HiddenA, total, all);
            all.AsSpan(0, total * VocabSize).CopyTo(logits);
        }
        else
        {
            for (int i = 0; i < n; i++)
            {
                int last = ws.TokenOffsets[i] + batch[i].Tokens.Length - 1;
                ws.HiddenA.AsSpan(last * d, d).CopyTo(ws.HeadIn.AsSpan(i * d, d));
            }

            RunHead(ws.HeadIn, n, ws.HeadOut);
            ws.HeadOut.AsSpan(0, n * VocabSize).CopyTo(logits);
        }

        double headSeconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;

        // Only now, after every layer appended its keys and values, do the caches advance:
        // a step that throws leaves every cache as it was.
        for (int i = 0; i < n; i++)
        {
            batch[i].Cache.Commit(batch[i].Tokens.Length);
        }

        if (_stepFallbacks > 0)
        {
            Interlocked.Add(ref _cpuFallbackRuns, _stepFallbacks);
        }

        if (stats is not null)
        {
            stats.Sequences = n;
            stats.Tokens = total;
            stats.CpuFallbackRuns = _stepFallbacks;
            stats.EmbedSeconds = embedSeconds;
            stats.DenseSeconds = denseSeconds;
            stats.AttentionSeconds = attentionSeconds;
            stats.RouterSeconds = routerSeconds;
            stats.ExpertPhaseSeconds = expertSeconds;
            stats.HeadSeconds = headSeconds;
            stats.TotalSeconds = Stopwatch.GetElapsedTime(stepStart).TotalSeconds;
        }
    }

    private void RunQkv(int layer, int total)
    {
        var slot = _slots[0];
        slot.RowsD[0] = total;
        slot.RowsD[1] = Config.DModel;
        slot.Rows[0] = total;
        slot.RowsHeads[0] = total;
        slot.RowsHeads[1] = Config.Heads;
        slot.RowsHeads[2] = Config.HeadDim;
        try
        {
            slot.PairIn[0] = GraphSession.Float(_ws.HiddenA, 0, slot.RowsD);
            slot.PairIn[1] = GraphSession.Int64(_ws.Positions, 0, slot.Rows);
            slot.TripleOut[0] = GraphSession.Float(_ws.Query, 0, slot.RowsHeads);
            slot.TripleOut[1] = GraphSession.Float(_ws.Key, 0, slot.RowsHeads);
            slot.TripleOut[2] = GraphSession.Float(_ws.Value, 0, slot.RowsHeads);
            _qkv[layer].Run(_runOptions, slot.PairIn, slot.TripleOut);
        }
        finally
        {
            WorkerSlots.DisposeAll(slot.PairIn);
            WorkerSlots.DisposeAll(slot.TripleOut);
        }
    }

    private void RunPost(int layer, int total)
    {
        var slot = _slots[0];
        slot.RowsD[0] = total;
        slot.RowsD[1] = Config.DModel;
        slot.RowsM[0] = total;
        slot.RowsM[1] = Config.Experts;
        try
        {
            slot.PairIn[0] = GraphSession.Float(_ws.HiddenA, 0, slot.RowsD);
            slot.PairIn[1] = GraphSession.Float(_ws.Attention, 0, slot.RowsD);
            slot.TripleOut[0] = GraphSession.Float(_ws.HiddenB, 0, slot.RowsD);
            slot.TripleOut[1] = GraphSession.Float(_ws.FfnInput, 0, slot.RowsD);
            slot.TripleOut[2] = GraphSession.Float(_ws.RouterLogits, 0, slot.RowsM);
            _post[layer].Run(_runOptions, slot.PairIn, slot.TripleOut);
        }
        finally
        {
            WorkerSlots.DisposeAll(slot.PairIn);
            WorkerSlots.DisposeAll(slot.TripleOut);
        }
    }

    private void RunEmbed(int total)
    {
        var slot = _slots[0];
        slot.Rows[0] = total;
        slot.RowsD[0] = total;
        slot.RowsD[1] = Config.DModel;
        slot.One[0] = GraphSession.Int64(_ws.Ids, 0, slot.Rows);
        slot.OneOut[0] = GraphSession.Float(_ws.HiddenA, 0, slot.RowsD);
        try
        {
            _embed.Run(_runOptions, slot.One, slot.OneOut);
        }
        finally
        {
            WorkerSlots.DisposeAll(slot.One);
            WorkerSlots.DisposeAll(slot.OneOut);
        }
    }

    private void RunHead(float[] hidden, int rows, float[] output)
    {
        var slot = _slots[0];
        slot.RowsD[0] = rows;
        slot.RowsD[1] = Config.DModel;
        slot.RowsM[0] = rows;
        slot.RowsM[1] = VocabSize;
        slot.One[0] = GraphSession.Float(hidden, 0, slot.RowsD);
        slot.OneOut[0] = GraphSession.Float(output, 0, slot.RowsM);
        try
        {
            _head.Run(_runOptions, slot.One, slot.OneOut);
        }
        finally
        {
            WorkerSlots.DisposeAll(slot.One);
            WorkerSlots.DisposeAll(slot.OneOut);
        }
    }

    private void Route(int layer, int total)
    {
        var ws = _ws;
        int m = Config.Experts;
        int k = Config.TopK;
        var shape = new RoutingShape(total, m, k);
        var scores = ws.Scores.AsSpan(0, total * m);
        RouterScores.Compute(ws.RouterLogits.AsSpan(0, total * m), scores, m, _scoreFunction);
        var experts = ws.Experts.AsSpan(0, total * k);
        var gates = ws.Gates.AsSpan(0, total * k);
        _policies[layer].Route(scores, shape, experts, gates);
        _plan.Build(experts, gates, shape);
        var slots = _plan.Slots;
        for (int a = 0; a < slots.Length; a++)
        {
            ws.RowOfSlot[slots[a]] = a;
        }
    }

    private void RunExperts(int layer, int total, ForwardStatistics? stats)
    {
        var ws = _ws;
        int d = Config.DModel;
        int m = Config.Experts;
        int k = Config.TopK;
        var counts = _plan.Counts;
        bool hasShared = _shared[layer] is not null;
        int items;
        long start = Stopwatch.GetTimestamp();
        Array.Clear(ws.WorkerExpertSeconds);
        if (Options.Dispatch == ExpertDispatchMode.Batched)
        {
            // Largest first (greedy LPT): the shared expert (all tokens), then experts by token count.
            items = 0;
            if (hasShared)
            {
                ws.WorkOrder[items] = m;
                ws.OrderKeys[items++] = int.MaxValue;
            }

            for (int j = 0; j < m; j++)
            {
                if (counts[j] > 0)
                {
                    ws.WorkOrder[items] = j;
                    ws.OrderKeys[items++] = counts[j];
                }
            }

            SortDescending(ws.OrderKeys.AsSpan(0, items), ws.WorkOrder.AsSpan(0, items));
            _expertPhase.Begin(layer, total);
            _pool.Run(_expertPhase, ws.WorkOrder, items, inline: total < Options.MinParallelTokens);
            _expertPhase.End();
        }
        else
        {
            var offsets = _plan.Offsets;
            for (int j = 0; j < m; j++)
            {
                ws.ExpertOfRow.AsSpan(offsets[j], counts[j]).Fill(j);
            }

            items = total * k;
            for (int a = 0; a < items; a++)
            {
                ws.WorkOrder[a] = a;
            }

            if (hasShared)
            {
                _expertPhase.Begin(layer, total);
                _expertPhase.Execute(m, 0);
                _expertPhase.End();
            }

            _perTokenPhase.Begin(layer);
            _pool.Run(_perTokenPhase, ws.WorkOrder, items, inline: total < Options.MinParallelTokens);
            _perTokenPhase.End();
        }

        double makespan = Stopwatch.GetElapsedTime(start).TotalSeconds;

        // Weighted scatter-add, token by token in rank order: deterministic whatever the worker count.
        var hidden = ws.HiddenB;
        var output = ws.GatherOut;
        var gates = ws.Gates;
        for (int tIndex = 0; tIndex < total; tIndex++)
        {
            var row = hidden.AsSpan(tIndex * d, d);
            for (int r = 0; r < k; r++)
            {
                int slot = (tIndex * k) + r;
                int a = ws.RowOfSlot[slot];
                TensorPrimitives.MultiplyAdd(output.AsSpan(a * d, d), gates[slot], row, row);
            }
        }

        if (hasShared)
        {
            var span = hidden.AsSpan(0, total * d);
            TensorPrimitives.Add(span, ws.SharedOut.AsSpan(0, total * d), span);
        }

        if (stats is not null)
        {
            counts.CopyTo(stats.ExpertTokensMutable(layer));
            _pool.BusySeconds.CopyTo(stats.WorkerBusySecondsMutable(layer));
            var perExpert = stats.ExpertRunSecondsMutable(layer);
            for (int w = 0; w < Options.ExpertWorkers; w++)
            {
                TensorPrimitives.Add(perExpert, ws.WorkerExpertSeconds.AsSpan(w * m, m), perExpert);
            }

            stats.ExpertRuns += Options.Dispatch == ExpertDispatchMode.Batched ? items - (hasShared ? 1 : 0) : items;
            stats.SetLayer(layer, makespan, LoadStatistics.MaxViolation(counts));
        }
    }

    private static void SortDescending(Span<int> keys, Span<int> values)
    {
        // Insertion sort: at most m + 1 items, and nearly sorted in steady state.
        for (int i = 1; i < keys.Length; i++)
        {
            int key = keys[i];
            int value = values[i];
            int j = i - 1;
            while (j >= 0 && keys[j] < key)
            {
                keys[j + 1] = keys[j];
                values[j + 1] = values[j];
                j--;
            }

            keys[j + 1] = key;
            values[j + 1] = value;
        }
    }

    private void RecordExpertRun(int worker, int expert, long startTimestamp, bool fellBack)
    {
        _ws.WorkerExpertSeconds[(worker * Config.Experts) + expert] += Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds;
        if (fellBack)
        {
            Interlocked.Increment(ref _stepFallbacks);
        }
    }

    private void DisposeCore()
    {
        _pool.Dispose();
        DisposeOwned();
        _runOptions.Dispose();
        _cachePool.Trim();
    }

    private void DisposeOwned()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }

        _owned.Clear();
    }

    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "Loaded model {Model}: {Layers} layers x {Experts} experts; devices {Devices}; routing {Routing}; {Workers} expert workers.")]
    private static partial void LogLoaded(ILogger logger, string model, int layers, int experts, string devices, RoutingPolicyKind routing, int workers);
}
