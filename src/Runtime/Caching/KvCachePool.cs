using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using MoeServe.Runtime.Sessions;

namespace MoeServe.Runtime.Caching;

/// <summary>
/// Owns the memory behind every <see cref="KvCache"/> of one engine. A cache rents one block (2 buffers per layer:
/// keys and values, each heads x <see cref="HeadStride"/> elements of <see cref="DType"/>, appended in place) and
/// returns it on Dispose; blocks are reused, so creating caches in steady state allocates nothing.
/// Blocks are cut from native slabs aligned to 2 MB and, for short contexts, advised as huge pages on Linux before
/// their first touch: attention visits every (sequence, head) of a step, a few KB each, and with 4 KB pages each
/// visit began with TLB misses (page walks, nested in a VM), which measured as a fixed cost per head larger than
/// the reads.
/// The slabs are freed when the engine is disposed; a cache disposed later only returns its block to nothing.
/// </summary>
internal sealed unsafe class KvCachePool : IDisposable
{
    // A transparent huge page on x86-64 and arm64 Linux.
    private const nuint HugePage = 2 * 1024 * 1024;

    // Blocks up to this size are advised as huge pages. A larger block belongs to a long context, which a sequence
    // fills sparsely at first (each head's buffer is written from its start), so huge pages would make resident
    // 2 MB for every few KB written: OLMoE's 4,096 positions make 512 MB blocks, resident in full at the first token.
    private const nuint HugePageBlocks = 16 * 1024 * 1024;

    private readonly ConcurrentBag<nint> _free = new();
    private readonly List<nint> _slabs = [];
    private readonly Lock _slabLock = new();
    private readonly int _maxSequences;
    private readonly nuint _blockBytes;
    private int _live;
    private bool _disposed;

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
        ElementBytes = dtype == KvCacheDType.Float16 ? sizeof(Half) : sizeof(float);
        _blockBytes = checked((nuint)BufferLength * (nuint)ElementBytes * (nuint)(layers * 2));
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

    /// <summary>Bytes of one element: 2 (float16) or 4.</summary>
    public int ElementBytes { get; }

    public int LiveCount => Volatile.Read(ref _live);

    public int PooledCount => _free.Count;

    /// <summary>A block's address: buffer i (layer i / 2, keys then values) from i x BufferLength elements on.</summary>
    public nint Rent()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        if (Interlocked.Increment(ref _live) > _maxSequences)
        {
            Interlocked.Decrement(ref _live);
            throw new InvalidOperationException($"All {_maxSequences} KV caches (maxSequences) are in use; dispose finished sequences first.");
        }

        if (_free.TryTake(out nint block))
        {
            return block;
        }

        lock (_slabLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_free.TryTake(out block))
            {
                return block;
            }

            // A slab of whole huge pages, as many blocks as fill it (at least one), never more than could be live.
            nuint pages = (_blockBytes + HugePage - 1) / HugePage;
            nuint blocks = Math.Min((nuint)_maxSequences, Math.Max(1, pages * HugePage / _blockBytes));
            nuint bytes = (blocks * _blockBytes + HugePage - 1) / HugePage * HugePage;
            nint slab = (nint)NativeMemory.AlignedAlloc(bytes, HugePage);
            if (_blockBytes <= HugePageBlocks)
            {
                NativeHeap.AdviseHugePages(slab, bytes);
            }

            _slabs.Add(slab);
            for (nuint b = 1; b < blocks; b++)
            {
                _free.Add(slab + (nint)(b * _blockBytes));
            }

            return slab;
        }
    }

    public void Return(nint block)
    {
        lock (_slabLock)
        {
            // After Dispose the block's slab is freed: it must never be rented again.
            if (!_disposed)
            {
                _free.Add(block);
            }
        }

        Interlocked.Decrement(ref _live);
    }

    /// <summary>Layer <paramref name="layer"/>'s keys (<paramref name="values"/> false) or values in a block.</summary>
    public Span<T> Buffer<T>(nint block, int layer, bool values)
        where T : unmanaged
    {
        nint offset = ((nint)((layer * 2) + (values ? 1 : 0)) * BufferLength) * ElementBytes;
        return new Span<T>((void*)(block + offset), BufferLength);
    }

    /// <summary>Frees every slab: the engine is gone, and with it every step that could read them.</summary>
    public void Dispose()
    {
        lock (_slabLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _free.Clear();
            foreach (nint slab in _slabs)
            {
                NativeMemory.AlignedFree((void*)slab);
            }

            _slabs.Clear();
        }
    }
}
