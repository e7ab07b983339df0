using System.Diagnostics;
using MoeServe.Runtime.Attention;
using MoeServe.Runtime.Sessions;

namespace MoeServe.Runtime;

/// <summary>
/// Causal attention of one sequence for one layer, in managed code: appends the step's keys and
/// values to the sequence's cache in place, then for each head and new token computes
/// softmax(q k^T / sqrt(hd)) over the positions it may see and the weighted sum of their values
/// (<see cref="HeadAttention"/>).
/// Each item writes only its own tokens' rows and its own cache, so the result does not depend on
/// which worker runs it.
/// </summary>
internal sealed class AttentionPhase(StepContext context, int maxSequences) : IWorkBody
{
    private ForwardItem[] _items = [];
    private int _count;

    public int Layer { get; set; }

    public void Begin(ReadOnlySpan<ForwardItem> batch)
    {
        if (_items.Length < batch.Length)
        {
            _items = new ForwardItem[maxSequences];
        }

        batch.CopyTo(_items);
        _count = batch.Length;
    }

    public void End()
    {
        // Drop references to caches and token memory so the engine does not keep them alive.
        Array.Clear(_items, 0, _count);
        _count = 0;
    }

    public void Execute(int item, int worker)
    {
        var ws = context.Workspace;
        var config = context.Config;
        var slot = context.Slots[worker];
        var cache = _items[item].Cache;
        int t = _items[item].Tokens.Length;
        int p = cache.Length;
        int off = ws.TokenOffsets[item];
        int heads = config.Heads;
        int kvHeads = config.KeyValueHeads;
        int hd = config.HeadDim;
        int qw = config.QueryWidth;
        int kvw = config.KeyValueWidth;
        int group = heads / kvHeads;
        int stride = cache.HeadStride;
        float[] keys = cache.Keys(Layer);
        float[] values = cache.Values(Layer);

        // Append in place. Keys: position p + j of kv head h, channel c at h * stride + KeyOffset(p + j, c);
        // values: at h * stride + (p + j) * hd + c (see KvCache).
        for (int j = 0; j < t; j++)
        {
            int row = (off + j) * kvw;
            int position = p + j;
            for (int h = 0; h < kvHeads; h++)
            {
                int first = (h * stride) + HeadAttention.KeyOffset(position, 0, hd);
                for (int c = 0; c < hd; c++)
                {
                    keys[first + (c * HeadAttention.KeyTile)] = ws.Key[row + (h * hd) + c];
                }

                ws.Value.AsSpan(row + (h * hd), hd).CopyTo(values.AsSpan((h * stride) + (position * hd), hd));
            }
        }

        // Grouped-query attention: query head h reads key/value head h / group (transformers' repeat_kv).
        float scale = 1f / MathF.Sqrt(hd);
        for (int h = 0; h < heads; h++)
        {
            int kv = h / group;
            var headKeys = keys.AsSpan(kv * stride, stride);
            var headValues = values.AsSpan(kv * stride, stride);
            for (int j = 0; j < t; j++)
            {
                int visible = p + j + 1;
                HeadAttention.Compute(
                    headKeys,
                    headValues,
                    visible,
                    ws.Query.AsSpan(((off + j) * qw) + (h * hd), hd),
                    scale,
                    slot.Scores,
                    slot.Probabilities,
                    ws.Attention.AsSpan(((off + j) * qw) + (h * hd), hd));
            }
        }
    }
}

/// <summary>Runs one expert over all the tokens routed to it (item m: the shared expert over all tokens).</summary>
internal sealed class ExpertPhase(StepContext context) : IWorkBody
{
    private int _layer;
    private int _total;

    public void Begin(int layer, int total)
    {
        _layer = layer;
        _total = total;
    }

    public void End()
    {
    }

    public void Execute(int item, int worker)
    {
        var ws = context.Workspace;
        int d = context.Config.DModel;
        long start = Stopwatch.GetTimestamp();
        if (item == context.Config.Experts)
        {
            var slot = context.Slots[worker];
            slot.RowsD[0] = _total;
            slot.RowsD[1] = d;
            try
            {
                slot.One[0] = GraphSession.Float(ws.FfnInput, 0, slot.RowsD);
                slot.OneOut[0] = GraphSession.Float(ws.SharedOut, 0, slot.RowsD);
                context.Graphs.Shared[_layer]!.Run(context.RunOptions, slot.One, slot.OneOut);
            }
            finally
            {
                WorkerSlots.DisposeAll(slot.One);
                WorkerSlots.DisposeAll(slot.OneOut);
            }

            return;
        }

        var plan = context.Plan;
        int offset = plan.Offsets[item];
        var tokens = plan.TokensOf(item);
        var gathered = ws.GatherIn.AsSpan(offset * d, tokens.Length * d);
        for (int r = 0; r < tokens.Length; r++)
        {
            ws.FfnInput.AsSpan(tokens[r] * d, d).CopyTo(gathered.Slice(r * d, d));
        }

        context.RunExpert(_layer, item, worker, offset, tokens.Length, start);
    }
}

/// <summary>The per-token baseline: one Run of one expert for one (token, expert) assignment.</summary>
internal sealed class PerTokenPhase(StepContext context) : IWorkBody
{
    private int _layer;

    public void Begin(int layer) => _layer = layer;

    public void End()
    {
    }

    public void Execute(int item, int worker)
    {
        var ws = context.Workspace;
        int d = context.Config.DModel;
        int expert = ws.ExpertOfRow[item];
        int token = context.Plan.TokenIndices[item];
        long start = Stopwatch.GetTimestamp();
        ws.FfnInput.AsSpan(token * d, d).CopyTo(ws.GatherIn.AsSpan(item * d, d));
        context.RunExpert(_layer, expert, worker, item, 1, start);
    }
}
