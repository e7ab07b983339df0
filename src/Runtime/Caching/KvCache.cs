namespace MoeServe.Runtime.Caching;

/// <summary>
/// The key/value cache of ONE sequence, for every layer. Create with <see cref="MoeEngine.CreateCache"/>,
/// pass in <see cref="ForwardItem"/>s, and dispose when the sequence ends: its pooled buffers go back to
/// the engine at once (<see cref="MoeEngine.LiveCacheCount"/> drops). Not thread-safe; one step at a time.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly KvCachePool _pool;
    private float[][]? _block;
    private int _parity;

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
    public bool IsDisposed => _block is null;

    internal object Owner { get; }

    /// <summary>The engine's step number that last included this cache (detects a cache listed twice in one step).</summary>
    internal int StepStamp { get; set; }

    /// <summary>Forgets every token (keeps the buffers) so the cache can serve a new sequence.</summary>
    public void Clear()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        Length = 0;
        _parity = 0;
    }

    /// <summary>Returns the buffers to the engine's pool.</summary>
    public void Dispose()
    {
        var block = Interlocked.Exchange(ref _block, null);
        if (block is not null)
        {
            _pool.Return(block);
        }
    }

    /// <summary>The buffer holding layer <paramref name="layer"/>'s keys for the current Length ([H, Length, hd] packed).</summary>
    internal float[] PastKey(int layer) => Block[(layer * 4) + (_parity * 2)];

    internal float[] PastValue(int layer) => Block[(layer * 4) + (_parity * 2) + 1];

    /// <summary>The buffer the step writes present_key into ([H, Length + T, hd] packed).</summary>
    internal float[] PresentKey(int layer) => Block[(layer * 4) + ((1 - _parity) * 2)];

    internal float[] PresentValue(int layer) => Block[(layer * 4) + ((1 - _parity) * 2) + 1];

    /// <summary>After every layer wrote its present buffers: they become the past, Length grows.</summary>
    internal void Commit(int appended)
    {
        Length += appended;
        _parity = 1 - _parity;
    }

    private float[][] Block => _block ?? throw new ObjectDisposedException(nameof(KvCache));
}
