using System.Diagnostics;
using System.Numerics.Tensors;
using Microsoft.ML.OnnxRuntime;
using MoeServe.Model;
using MoeServe.Router;
using MoeServe.Runtime.Sessions;

namespace MoeServe.Runtime;

/// <summary>
/// The forward pass of a loaded model: embed, then per layer the qkv graph over all tokens, attention
/// per sequence against its cache, the post graph, routing, and the experts (each Run once over the
/// tokens sent to it, or per token as the baseline), then the head. Owns the step's buffers, worker
/// threads, routing state and Run options; borrows the sessions from <see cref="ModelGraphs"/>.
/// Arguments are checked by <see cref="MoeEngine"/>; one step at a time.
/// </summary>
internal sealed class ForwardStep : IDisposable
{
    private readonly ModelGraphs _graphs;
    private readonly ModelConfig _config;
    private readonly RuntimeOptions _options;
    private readonly IRoutingPolicy[] _policies;
    private readonly ScoreFunction _scoreFunction;
    private readonly DispatchPlan _plan = new();
    private readonly Workspace _ws;
    private readonly WorkerPool _pool;
    private readonly RunOptions _runOptions = new();
    private readonly StepContext _context;
    private readonly AttentionPhase _attentionPhase;
    private readonly ExpertPhase _expertPhase;
    private readonly PerTokenPhase _perTokenPhase;
    private readonly int _minParallelExpertTokens;
    private readonly ParallelMatMul _matMul;
    private long _cpuFallbackRuns;

    public ForwardStep(ModelGraphs graphs, ModelManifest manifest, RuntimeOptions options)
    {
        _graphs = graphs;
        _config = manifest.Config;
        _options = options;
        int m = _config.Experts;
        _scoreFunction = _config.ScoreFunction;
        _policies = CreatePolicies(options, manifest);
        _ws = new Workspace(options.MaxBatchTokens, options.MaxSequences, _config.DModel, _config.QueryWidth, _config.KeyValueWidth, m, _config.TopK, _config.VocabSize, options.ExpertWorkers);
        _pool = new WorkerPool(options.ExpertWorkers);
        var slots = Enumerable.Range(0, options.ExpertWorkers).Select(_ => new WorkerSlots()).ToArray();
        _context = new StepContext(graphs, _config, _ws, slots, _plan, _runOptions);
        _attentionPhase = new AttentionPhase(_context, options.MaxSequences);
        _expertPhase = new ExpertPhase(_context);
        _perTokenPhase = new PerTokenPhase(_context);
        _minParallelExpertTokens = ExpertScale.MinParallelExpertTokens(options, _config);
        _matMul = new ParallelMatMul(_pool, options.ExpertWorkers);
    }

    /// <summary>Expert Runs re-run on CPU since load (device failure or open breaker).</summary>
    public long CpuFallbackRuns => Interlocked.Read(ref _cpuFallbackRuns);

    /// <summary>The q layer <paramref name="layer"/> routes with now; empty for plain top-k.</summary>
    public ReadOnlySpan<float> RoutingBias(int layer) => _policies[layer] switch
    {
        BiasedTopKPolicy biased => biased.Q,
        BipBalancer bip => bip.Q,
        _ => ReadOnlySpan<float>.Empty,
    };

    /// <summary>
    /// One step: appends each item's tokens to its cache (committed only when the whole step succeeds)
    /// and writes the logits of each item's last token, or with <paramref name="allPositions"/> of every token.
    /// </summary>
    public void Run(ReadOnlySpan<ForwardItem> batch, Span<float> logits, ForwardStatistics? stats, bool allPositions)
    {
        long stepStart = Stopwatch.GetTimestamp();
        stats?.Reset();
        _context.BeginStep();
        var ws = _ws;
        int d = _config.DModel;
        int n = batch.Length;
        int heads = _config.Heads;
        int kvHeads = _config.KeyValueHeads;
        int headDim = _config.HeadDim;
        int vocab = _config.VocabSize;

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

        // Steps of few tokens (every step, for a 4-bit model) run the dense graphs in managed code where the model has
        // them (FewRowDense), their projections split over the workers as ParallelMatMul decides.
        var few = _graphs.FewRows is { } managed && total <= managed.MaxRows ? managed : null;
        long t0 = Stopwatch.GetTimestamp();
        if (few is { Embedding.IsEmpty: false })
        {
            few.Embed(ws.Ids.AsSpan(0, total), ws.HiddenA);
        }
        else
        {
            RunDense(_graphs.Embed, total, [Operand.Rows(ws.Ids)], [Operand.Matrix(ws.HiddenA, d)]);
        }

        double embedSeconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        double denseSeconds = 0;
        double attentionSeconds = 0;
        double routerSeconds = 0;
        double expertSeconds = 0;
        _attentionPhase.Begin(batch);

        for (int l = 0; l < _config.Layers; l++)
        {
            // Dense part: one qkv Run over all tokens, attention per sequence against its cache, one post Run.
            t0 = Stopwatch.GetTimestamp();
            if (few?.Qkv[l] is { } qkv)
            {
                qkv.Run(ws.HiddenA, ws.Positions, total, ws.Query, ws.Key, ws.Value, _matMul);
            }
            else
            {
                RunDense(
                    _graphs.Qkv[l]!,
                    total,
                    [Operand.Matrix(ws.HiddenA, d), Operand.Rows(ws.Positions)],
                    [Operand.Heads(ws.Query, heads, headDim), Operand.Heads(ws.Key, kvHeads, headDim), Operand.Heads(ws.Value, kvHeads, headDim)]);
            }

            long ta = Stopwatch.GetTimestamp();
            _attentionPhase.Layer = l;
            _pool.Run(_attentionPhase, _attentionPhase.Order, _attentionPhase.ItemCount, inline: total < _options.MinParallelTokens);
            attentionSeconds += Stopwatch.GetElapsedTime(ta).TotalSeconds;
            if (few?.Post[l] is { } post)
            {
                post.Run(ws.HiddenA, ws.Attention, total, ws.HiddenB, ws.FfnInput, ws.RouterLogits, _matMul);
            }
            else
            {
                RunDense(
                    _graphs.Post[l]!,
                    total,
                    [Operand.Matrix(ws.HiddenA, d), Operand.Matrix(ws.Attention, _config.QueryWidth)],
                    [Operand.Matrix(ws.HiddenB, d), Operand.Matrix(ws.FfnInput, d), Operand.Matrix(ws.RouterLogits, _config.Experts)]);
            }

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
            var all = ws.EnsureAllLogits(total * vocab);
            if (_graphs.FewRows is { EveryStep: true, Head: { } everyStepHead })
            {
                everyStepHead.Run(ws.HiddenA, total, all, _matMul);
            }
            else
            {
                RunDense(_graphs.Head!, total, [Operand.Matrix(ws.HiddenA, d)], [Operand.Matrix(all, vocab)]);
            }

            all.AsSpan(0, total * vocab).CopyTo(logits);
        }
        else
        {
            for (int i = 0; i < n; i++)
            {
                int last = ws.TokenOffsets[i] + batch[i].Tokens.Length - 1;
                ws.HiddenA.AsSpan(last * d, d).CopyTo(ws.HeadIn.AsSpan(i * d, d));
            }

            if (_graphs.FewRows is { Head: { } head } fewHead && n <= fewHead.HeadMaxRows)
            {
                head.Run(ws.HeadIn, n, ws.HeadOut, _matMul);
            }
            else
            {
                RunDense(_graphs.Head!, n, [Operand.Matrix(ws.HeadIn, d)], [Operand.Matrix(ws.HeadOut, vocab)]);
            }

            ws.HeadOut.AsSpan(0, n * vocab).CopyTo(logits);
        }

        double headSeconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;

        // Only now, after every layer appended its keys and values, do the caches advance:
        // a step that throws leaves every cache as it was.
        for (int i = 0; i < n; i++)
        {
            batch[i].Cache.Commit(batch[i].Tokens.Length);
        }

        int fallbacks = _context.StepFallbacks;
        if (fallbacks > 0)
        {
            Interlocked.Add(ref _cpuFallbackRuns, fallbacks);
        }

        if (stats is not null)
        {
            stats.Sequences = n;
            stats.Tokens = total;
            stats.CpuFallbackRuns = fallbacks;
            stats.EmbedSeconds = embedSeconds;
            stats.DenseSeconds = denseSeconds;
            stats.AttentionSeconds = attentionSeconds;
            stats.RouterSeconds = routerSeconds;
            stats.ExpertPhaseSeconds = expertSeconds;
            stats.HeadSeconds = headSeconds;
            stats.TotalSeconds = Stopwatch.GetElapsedTime(stepStart).TotalSeconds;
        }
    }

    // The dense graphs (embed, qkv, post, head) differ only in which buffers they read and write:
    // every operand has the step's rows as its first dimension, so one call shape serves all four.
    private void RunDense(GraphSession graph, int rows, ReadOnlySpan<Operand> inputs, ReadOnlySpan<Operand> outputs)
    {
        var slot = _context.Slots[0];
        var inputValues = slot.Inputs(inputs.Length);
        var outputValues = slot.Outputs(outputs.Length);
        try
        {
            for (int i = 0; i < inputs.Length; i++)
            {
                inputValues[i] = inputs[i].Create(rows, slot);
            }

            for (int i = 0; i < outputs.Length; i++)
            {
                outputValues[i] = outputs[i].Create(rows, slot);
            }

            graph.Run(_runOptions, inputValues, outputValues);
        }
        finally
        {
            WorkerSlots.DisposeAll(inputValues);
            WorkerSlots.DisposeAll(outputValues);
        }
    }

    private void Route(int layer, int total)
    {
        var ws = _ws;
        int m = _config.Experts;
        int k = _config.TopK;
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
        int d = _config.DModel;
        int m = _config.Experts;
        int k = _config.TopK;
        var counts = _plan.Counts;
        bool hasShared = _graphs.Shared[layer] is not null;
        int items;
        long start = Stopwatch.GetTimestamp();
        Array.Clear(ws.WorkerExpertSeconds);
        if (_options.Dispatch == ExpertDispatchMode.Batched)
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
            _pool.Run(_expertPhase, ws.WorkOrder, items, inline: total < _minParallelExpertTokens);
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
            _pool.Run(_perTokenPhase, ws.WorkOrder, items, inline: total < _minParallelExpertTokens);
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
            for (int w = 0; w < _options.ExpertWorkers; w++)
            {
                TensorPrimitives.Add(perExpert, ws.WorkerExpertSeconds.AsSpan(w * m, m), perExpert);
            }

            stats.ExpertRuns += _options.Dispatch == ExpertDispatchMode.Batched ? items - (hasShared ? 1 : 0) : items;
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

    private static IRoutingPolicy[] CreatePolicies(RuntimeOptions options, ModelManifest manifest)
    {
        var routing = manifest.Routing;
        var router = new RouterOptions
        {
            Method = options.Routing,
            Renormalize = routing.Renormalize,
            Bip = new BipOptions { Iterations = options.OnlineBipIterations, MinTokensPerUpdate = options.OnlineBipMinTokens ?? manifest.Config.Experts },
        };

        // A copy of the manifest's q: online BIP updates it in place, the loaded manifest stays as exported.
        var state = new BalancingState(string.IsNullOrWhiteSpace(routing.Method) ? "none" : routing.Method, ServedQ(options, manifest));
        return Enumerable.Range(0, manifest.Config.Layers).Select(l => RoutingPolicyFactory.Create(router, state, l)).ToArray();
    }

    /// <summary>lambda x q (the override or the manifest's), read once at load: the per-token loops never see the scale.</summary>
    private static float[][] ServedQ(RuntimeOptions options, ModelManifest manifest)
    {
        var source = options.QOverride ?? manifest.Routing.Q;
        int layers = manifest.Config.Layers;
        int m = manifest.Config.Experts;
        if (source.Count != layers || source.Any(q => q is null || q.Length != m))
        {
            throw new ArgumentException($"The q to serve must have {layers} layers x {m} experts.", nameof(options));
        }

        float scale = (float)options.QScale;
        return source.Select(q => q.Select(v => v * scale).ToArray()).ToArray();
    }

    public void Dispose()
    {
        _pool.Dispose();
        _runOptions.Dispose();
    }

    /// <summary>A pinned buffer seen as a tensor of the step's rows: [rows] ids, [rows, columns] or [rows, heads, headDim].</summary>
    private readonly struct Operand
    {
        private readonly float[]? _floats;
        private readonly long[]? _longs;
        private readonly int _columns;
        private readonly int _headDim;

        private Operand(float[]? floats, long[]? longs, int columns, int headDim)
        {
            _floats = floats;
            _longs = longs;
            _columns = columns;
            _headDim = headDim;
        }

        public static Operand Rows(long[] buffer) => new(null, buffer, 0, 0);

        public static Operand Matrix(float[] buffer, int columns) => new(buffer, null, columns, 0);

        public static Operand Heads(float[] buffer, int heads, int headDim) => new(buffer, null, heads, headDim);

        // ONNX Runtime copies the shape when it creates the value, so the slot's shape arrays are reused.
        public OrtValue Create(int rows, WorkerSlots slot)
        {
            if (_longs is not null)
            {
                slot.Rows[0] = rows;
                return GraphSession.Int64(_longs, 0, slot.Rows);
            }

            if (_headDim == 0)
            {
                slot.RowsD[0] = rows;
                slot.RowsD[1] = _columns;
                return GraphSession.Float(_floats!, 0, slot.RowsD);
            }

            slot.RowsHeads[0] = rows;
            slot.RowsHeads[1] = _columns;
            slot.RowsHeads[2] = _headDim;
            return GraphSession.Float(_floats!, 0, slot.RowsHeads);
        }
    }
}
