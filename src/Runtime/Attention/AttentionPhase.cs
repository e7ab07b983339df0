using System.Runtime.InteropServices;
using MoeServe.Runtime.Attention;

namespace MoeServe.Runtime;

/// <summary>
/// Causal attention for one layer, in managed code, one work item per (sequence, key/value head):
/// the item appends the step's keys and values of its head to the sequence's cache in place
/// (encoded to the cache's dtype), then for each query head of the head's group (grouped-query
/// attention: query head h reads key/value head h / (heads / kvHeads)) and each new token computes
/// softmax(q k^T / sqrt(hd)) over the positions it may see and the weighted sum of their values
/// (<see cref="HeadAttention"/>, one fused pass). Per head rather than per sequence, so that a few
/// sequences (or one long prompt) still keep every worker busy. Each item writes only its own
/// head's cache slots and output columns, so the result does not depend on which worker runs it.
/// </summary>
internal sealed class AttentionPhase : IWorkBody
{
    private readonly StepContext _context;
    private readonly int _kvHeads;
    private readonly ForwardItem[] _items;
    private int _count;

    public AttentionPhase(StepContext context, int maxSequences)
    {
        _context = context;
        _kvHeads = context.Config.KeyValueHeads;
        _items = new ForwardItem[maxSequences];
        Order = new int[checked(maxSequences * _kvHeads)];
        for (int i = 0; i < Order.Length; i++)
        {
            Order[i] = i;
        }
    }

    public int Layer { get; set; }

    /// <summary>The order the pool takes items in (item i = sequence i / kvHeads, head i % kvHeads).</summary>
    public int[] Order { get; }

    /// <summary>Work items of the current step: sequences x key/value heads.</summary>
    public int ItemCount => _count * _kvHeads;

    public void Begin(ReadOnlySpan<ForwardItem> batch)
    {
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
        int sequence = item / _kvHeads;
        int kv = item % _kvHeads;
        if (_items[sequence].Cache.DType == KvCacheDType.Float16)
        {
            Run<Half>(sequence, kv);
        }
        else
        {
            Run<float>(sequence, kv);
        }
    }

    private void Run<T>(int sequence, int kv)
        where T : unmanaged
    {
        var forward = _items[sequence];
        var ws = _context.Workspace;
        var config = _context.Config;
        var cache = forward.Cache;
        int t = forward.Tokens.Length;
        int p = cache.Length;
        int off = ws.TokenOffsets[sequence];
        int hd = config.HeadDim;
        int qw = config.QueryWidth;
        int kvw = config.KeyValueWidth;
        int group = config.Heads / _kvHeads;
        int stride = cache.HeadStride;
        var keys = cache.Keys<T>(Layer).Slice(kv * stride, stride);
        var values = cache.Values<T>(Layer).Slice(kv * stride, stride);

        // Append in place. Keys: position p + j, channel c at KeyOffset(p + j, c); values at (p + j) * hd + c (see KvCache).
        for (int j = 0; j < t; j++)
        {
            var key = ws.Key.AsSpan(((off + j) * kvw) + (kv * hd), hd);
            var value = ws.Value.AsSpan(((off + j) * kvw) + (kv * hd), hd);
            int first = HeadAttention.KeyOffset(p + j, 0, hd);
            var valueSlot = values.Slice((p + j) * hd, hd);
            if (typeof(T) == typeof(Half))
            {
                var halfKeys = MemoryMarshal.Cast<T, Half>(keys);
                for (int c = 0; c < hd; c++)
                {
                    halfKeys[first + (c * HeadAttention.KeyTile)] = HalfVectors.Encode(key[c]);
                }

                HalfVectors.Encode(value, MemoryMarshal.Cast<T, Half>(valueSlot));
            }
            else
            {
                var floatKeys = MemoryMarshal.Cast<T, float>(keys);
                for (int c = 0; c < hd; c++)
                {
                    floatKeys[first + (c * HeadAttention.KeyTile)] = key[c];
                }

                value.CopyTo(MemoryMarshal.Cast<T, float>(valueSlot));
            }
        }

        float scale = 1f / MathF.Sqrt(hd);
        for (int h = kv * group; h < (kv + 1) * group; h++)
        {
            for (int j = 0; j < t; j++)
            {
                int at = ((off + j) * qw) + (h * hd);
                HeadAttention.Compute<T>(keys, values, p + j + 1, ws.Query.AsSpan(at, hd), scale, ws.Attention.AsSpan(at, hd));
            }
        }
    }
}
