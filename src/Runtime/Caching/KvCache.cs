namespace MoeServe.Runtime.Caching;

/// <summary>
/// The key/value cache of ONE sequence, for every layer. Create with <see cref="MoeEngine.CreateCache"/>,
/// pass in <see cref="ForwardItem"/>s, and dispose when the sequence ends: its pooled buffers go back to
/// the engine at once (<see cref="MoeEngine.LiveCacheCount"/> drops). Not thread-safe; one step at a time.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly KvCachePool _pool;
    private nint _block;

    internal KvCache(KvCachePool pool, object owner)
    {
        _pool = pool;
        Owner = owner;
        _block = pool.Rent();
    }

    /// <summary>Tokens already in the cache (the next token's position).</summary>
    public int Length { get; private set; }

    /// <summary>Most tokens the cache can hold (the model's context length).</summary>
    public int Capacity => _pool.Capacity;

    /// <summary>Tokens that still fit.</summary>
    public int Remaining => Capacity - Length;

    /// <summary>Whether <see cref="Dispose"/> was called.</summary>
    public bool IsDisposed => _block == 0;

    internal object Owner { get; }

    /// <summary>The engine's step number that last included this cache (detects a cache listed twice in one step).</summary>
    internal int StepStamp { get; set; }

    /// <summary>Forgets every token (keeps the buffers) so the cache can serve a new sequence.</summary>
    public void Clear()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        Length = 0;
    }

    /// <summary>Returns the buffers to the engine's pool.</summary>
    public void Dispose()
    {
        nint block = Interlocked.Exchange(ref _block, 0);
        if (block != 0)
        {
            _pool.Return(block);
        }
    }

    /// <summary>Element type of <see cref="Keys{T}"/> and <see cref="Values{T}"/>.</summary>
    public KvCacheDType DType => _pool.DType;

    /// <summary>Elements per head in <see cref="Keys{T}"/> and <see cref="Values{T}"/>.</summary>
    internal int HeadStride => _pool.HeadStride;

    /// <summary>
    /// Layer <paramref name="layer"/>'s keys: head h from h x <see cref="HeadStride"/>, in tiles of
    /// positions (HeadAttention.KeyOffset), so the attention's dot products over positions are contiguous
    /// vector operations. A step writes its new positions in place, past Length.
    /// </summary>
    /// <typeparam name="T"><see cref="Half"/> or float, as <see cref="DType"/> says.</typeparam>
    /// <param name="layer">The layer.</param>
    internal Span<T> Keys<T>(int layer)
        where T : unmanaged => _pool.Buffer<T>(Block, layer, values: false);

    /// <summary>
    /// Layer <paramref name="layer"/>'s values: head h from h x <see cref="HeadStride"/>, [positions, headDim]: channel innermost, so the
    /// weighted sum over positions accumulates whole vectors of channels.
    /// </summary>
    /// <typeparam name="T"><see cref="Half"/> or float, as <see cref="DType"/> says.</typeparam>
    /// <param name="layer">The layer.</param>
    internal Span<T> Values<T>(int layer)
        where T : unmanaged => _pool.Buffer<T>(Block, layer, values: true);

    /// <summary>After every layer appended its keys and values: Length grows (a failed step never gets here).</summary>
    internal void Commit(int appended) => Length += appended;

    private nint Block => _block != 0 ? _block : throw new ObjectDisposedException(nameof(KvCache));
}
