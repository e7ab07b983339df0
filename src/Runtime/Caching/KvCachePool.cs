using System.Collections.Concurrent;

namespace MoeServe.Runtime.Caching;

/// <summary>
/// Owns the buffers behind every <see cref="KvCache"/> of one engine. A cache rents one block
/// (2 buffers per layer: keys and values, each heads x <see cref="HeadStride"/> elements of
/// <see cref="DType"/>: <see cref="Half"/>[] or float[], appended in place) and returns it on Dispose;
/// blocks are reused, so creating caches in steady state allocates nothing large.
/// </summary>
internal sealed class KvCachePool
{
    private readonly ConcurrentBag<Array[]> _free = new();
    private readonly int _maxSequences;
    private int _live;

    public KvCachePool(int layers, int heads, int headDim, int capacity, int maxSequences, KvCacheDType dtype = KvCacheDType.Float16)
    {
        if (!Enum.IsDefined(dtype))
        {
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "KV cache dtype must be float16 or float32.");
        }

        DType = dtype;
        Layers = layers;
        Heads = heads;
        HeadDim = headDim;
        Capacity = capacity;
        _maxSequences = maxSequences;
        HeadStride = checked(Attention.HeadAttention.PaddedCapacity(capacity) * headDim);
        BufferLength = checked(heads * HeadStride);
    }

    /// <summary>Element type of every buffer.</summary>
    public KvCacheDType DType { get; }

    public int Layers { get; }

    public int Heads { get; }

    public int HeadDim { get; }

    public int Capacity { get; }

    /// <summary>Elements per head in a key or value buffer: headDim x the capacity rounded up to whole key tiles.</summary>
    public int HeadStride { get; }

    /// <summary>Elements in one key or value buffer: heads x <see cref="HeadStride"/>.</summary>
    public int BufferLength { get; }

    public int LiveCount => Volatile.Read(ref _live);

    public int PooledCount => _free.Count;

    public Array[] Rent()
    {
        if (Interlocked.Increment(ref _live) > _maxSequences)
        {
            Interlocked.Decrement(ref _live);
            throw new InvalidOperationException($"All {_maxSequences} KV caches (maxSequences) are in use; dispose finished sequences first.");
        }

        if (_free.TryTake(out var block))
        {
            return block;
        }

        block = new Array[Layers * 2];
        for (int i = 0; i < block.Length; i++)
        {
            // Only managed code reads them (attention runs outside the graphs): no pinning needed. Unread
            // slots past Length may hold stale numbers; attention never looks beyond a sequence's tokens.
            block[i] = DType == KvCacheDType.Float16
                ? GC.AllocateUninitializedArray<Half>(BufferLength)
                : GC.AllocateUninitializedArray<float>(BufferLength);
        }

        return block;
    }

    public void Return(Array[] block)
    {
        _free.Add(block);
        Interlocked.Decrement(ref _live);
    }

    /// <summary>Drops the pooled (free) blocks so the GC can take them.</summary>
    public void Trim() => _free.Clear();
}
