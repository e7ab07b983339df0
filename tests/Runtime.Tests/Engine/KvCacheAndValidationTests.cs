using MoeServe.Runtime.Tests.Support;

namespace MoeServe.Runtime.Tests.Engine;

public sealed class KvCacheAndValidationTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public void CreateCache_DisposeReturnsBuffersAtOnce_LiveCountTracksCaches()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options(o => o with { MaxSequences = 3 }));
        var a = engine.CreateCache();
        var b = engine.CreateCache();
        Assert.Equal(2, engine.LiveCacheCount);
        a.Dispose();
        a.Dispose();
        Assert.Equal(1, engine.LiveCacheCount);
        Assert.True(a.IsDisposed);
        var c = engine.CreateCache();
        var d = engine.CreateCache();
        Assert.Throws<InvalidOperationException>(() => engine.CreateCache());
        b.Dispose();
        c.Dispose();
        d.Dispose();
        Assert.Equal(0, engine.LiveCacheCount);
    }

    [Fact]
    public void CacheBlocks_AreDisjointInTheirSlabs_AndOutliveNothing()
    {
        // Three blocks of one slab: every buffer of each written with its own number, then read back whole.
        var pool = new Caching.KvCachePool(layers: 2, heads: 2, headDim: 8, capacity: 40, maxSequences: 3);
        nint[] blocks = [pool.Rent(), pool.Rent(), pool.Rent()];
        for (int b = 0; b < blocks.Length; b++)
        {
            for (int layer = 0; layer < 2; layer++)
            {
                pool.Buffer<Half>(blocks[b], layer, values: false).Fill((Half)((b * 4) + (layer * 2)));
                pool.Buffer<Half>(blocks[b], layer, values: true).Fill((Half)((b * 4) + (layer * 2) + 1));
            }
        }

        for (int b = 0; b < blocks.Length; b++)
        {
            for (int layer = 0; layer < 2; layer++)
            {
                Assert.All(pool.Buffer<Half>(blocks[b], layer, values: false).ToArray(), h => Assert.Equal((Half)((b * 4) + (layer * 2)), h));
                Assert.All(pool.Buffer<Half>(blocks[b], layer, values: true).ToArray(), h => Assert.Equal((Half)((b * 4) + (layer * 2) + 1), h));
            }
        }

        // Disposed with blocks out: a block returned afterwards is never rented again, and renting fails plainly.
        pool.Dispose();
        pool.Return(blocks[0]);
        Assert.Equal(0, pool.PooledCount);
        Assert.Throws<ObjectDisposedException>(() => pool.Rent());

        // The same through the engine: a cache disposed after its engine is harmless.
        var engine = MoeEngine.Load(fixture.Model.Options());
        var cache = engine.CreateCache();
        engine.Dispose();
        cache.Dispose();
        Assert.True(cache.IsDisposed);
    }

    [Fact]
    public void Forward_ReusedCacheBuffers_DoNotLeakPreviousSequence()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options(o => o with { MaxSequences = 1 }));
        var fresh = new float[engine.VocabSize];
        var reused = new float[engine.VocabSize];
        using (var cache = engine.CreateCache())
        {
            engine.Forward([new ForwardItem(cache, new[] { 1, 2, 3 })], fresh);
        }

        using (var other = engine.CreateCache())
        {
            engine.Forward([new ForwardItem(other, new[] { 9, 9, 9, 9, 9, 9, 9 })], reused);
        }

        using (var again = engine.CreateCache())
        {
            engine.Forward([new ForwardItem(again, new[] { 1, 2, 3 })], reused);
        }

        Assert.Equal(fresh, reused);
    }

    [Fact]
    public void Forward_ClearedCache_StartsOver()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        using var cache = engine.CreateCache();
        var first = new float[engine.VocabSize];
        var second = new float[engine.VocabSize];
        engine.Forward([new ForwardItem(cache, new[] { 4, 5 })], first);
        cache.Clear();
        Assert.Equal(0, cache.Length);
        engine.Forward([new ForwardItem(cache, new[] { 4, 5 })], second);
        Assert.Equal(first, second);
    }

    [Fact]
    public void Forward_BadBatches_ThrowClearErrorsAndLeaveCachesUnchanged()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        using var other = MoeEngine.Load(fixture.Model.Options());
        using var cache = engine.CreateCache();
        using var foreign = other.CreateCache();
        var logits = new float[2 * engine.VocabSize];
        int context = engine.ContextLength;

        AssertError("empty", () => engine.Forward([], logits));
        AssertError("no tokens", () => engine.Forward([new ForwardItem(cache, Array.Empty<int>())], logits));
        AssertError("twice", () => engine.Forward([new ForwardItem(cache, new[] { 1 }), new ForwardItem(cache, new[] { 2 })], logits));
        AssertError("another engine", () => engine.Forward([new ForwardItem(foreign, new[] { 1 })], logits));
        AssertError("outside the vocabulary", () => engine.Forward([new ForwardItem(cache, new[] { engine.VocabSize })], logits));
        AssertError("outside the vocabulary", () => engine.Forward([new ForwardItem(cache, new[] { -1 })], logits));
        AssertError("do not fit", () => engine.Forward([new ForwardItem(cache, new int[context + 1])], logits));
        AssertError("logits holds", () => engine.Forward([new ForwardItem(cache, new[] { 1 })], new float[engine.VocabSize - 1]));
        Assert.Equal(0, cache.Length);

        var disposed = engine.CreateCache();
        disposed.Dispose();
        Assert.Throws<ObjectDisposedException>(() => engine.Forward([new ForwardItem(disposed, new[] { 1 })], logits));
    }

    [Fact]
    public void Forward_FillsContextExactly_ThenRefusesMore()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        using var cache = engine.CreateCache();
        var logits = new float[engine.VocabSize];
        engine.Forward([new ForwardItem(cache, new int[engine.ContextLength - 1])], logits);
        engine.Forward([new ForwardItem(cache, new[] { 3 })], logits);
        Assert.Equal(0, cache.Remaining);
        Assert.All(logits, v => Assert.True(float.IsFinite(v)));
        Assert.Throws<ArgumentException>(() => engine.Forward([new ForwardItem(cache, new[] { 3 })], logits));
    }

    [Fact]
    public void Forward_Float16AndFloat32Caches_AgreeWithinHalfPrecision()
    {
        // The default float16 cache against the exact float32 one, over a prefill, decode steps and a
        // batch of two (the per-(sequence, head) work items of both dtypes): close, and not the same bits.
        using var exact = MoeEngine.Load(fixture.Model.Options(o => o with { KvCacheDType = KvCacheDType.Float32 }));
        using var half = MoeEngine.Load(fixture.Model.Options(o => o with { KvCacheDType = KvCacheDType.Float16 }));
        Assert.Equal(KvCacheDType.Float16, new RuntimeOptions { ModelPath = "m" }.KvCacheDType); // the default
        using var a32 = exact.CreateCache();
        using var b32 = exact.CreateCache();
        using var a16 = half.CreateCache();
        using var b16 = half.CreateCache();
        Assert.Equal(KvCacheDType.Float16, a16.DType);
        Assert.Equal(KvCacheDType.Float32, a32.DType);
        var logits32 = new float[2 * exact.VocabSize];
        var logits16 = new float[2 * half.VocabSize];
        exact.Forward([new ForwardItem(a32, new[] { 5, 17, 3, 99, 4, 250, 7 }), new ForwardItem(b32, new[] { 8, 1 })], logits32);
        half.Forward([new ForwardItem(a16, new[] { 5, 17, 3, 99, 4, 250, 7 }), new ForwardItem(b16, new[] { 8, 1 })], logits16);
        bool anyDifferent = false;
        for (int step = 0; step < 12; step++)
        {
            float largest = logits32.Max(MathF.Abs);
            for (int i = 0; i < logits32.Length; i++)
            {
                Assert.True(MathF.Abs(logits32[i] - logits16[i]) <= 2e-3f * Math.Max(1f, largest), $"step {step}, logit {i}: {logits32[i]} vs {logits16[i]}");
                anyDifferent |= logits32[i] != logits16[i];
            }

            int[] next = [(step * 37) % exact.VocabSize, (step * 11) + 2];
            exact.Forward([new ForwardItem(a32, new[] { next[0] }), new ForwardItem(b32, new[] { next[1] })], logits32);
            half.Forward([new ForwardItem(a16, new[] { next[0] }), new ForwardItem(b16, new[] { next[1] })], logits16);
        }

        Assert.True(anyDifferent, "the float16 cache gave float32's bits exactly: is the option applied?");
    }

    [Fact]
    public void Validate_UndefinedKvCacheDType_NamesTheField()
    {
        var errors = new RuntimeOptions { ModelPath = "m", KvCacheDType = (KvCacheDType)7 }.Validate();
        Assert.Contains(errors, e => e.Contains("kvCacheDType", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_MissingGraphFiles_ListsEveryMissingFile()
    {
        using var model = TinyModel.Create(MoeServe.TestSupport.TinyCheckpoint.DefaultConfig, seed: 3);
        File.Delete(Path.Combine(model.ModelDirectory, "layer1.expert2.onnx"));
        File.Delete(Path.Combine(model.ModelDirectory, "head.onnx"));
        var ex = Assert.ThrowsAny<Exception>(() => MoeEngine.Load(model.Options()));
        Assert.Contains("layer1.expert2.onnx", ex.Message, StringComparison.Ordinal);
        Assert.Contains("head.onnx", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_CorruptGraph_NamesTheFile()
    {
        using var model = TinyModel.Create(MoeServe.TestSupport.TinyCheckpoint.DefaultConfig, seed: 4);
        File.WriteAllText(Path.Combine(model.ModelDirectory, "layer0.expert1.onnx"), "not an onnx graph");
        var ex = Assert.Throws<InvalidDataException>(() => MoeEngine.Load(model.Options()));
        Assert.Contains("layer0.expert1.onnx", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingDirectory_NamesModelPath()
    {
        var ex = Assert.Throws<DirectoryNotFoundException>(() => MoeEngine.Load(new RuntimeOptions { ModelPath = "/nonexistent/model" }));
        Assert.Contains("modelPath", ex.Message, StringComparison.Ordinal);
    }

    private static void AssertError(string fragment, Action action)
    {
        var ex = Assert.ThrowsAny<ArgumentException>(action);
        Assert.Contains(fragment, ex.Message, StringComparison.Ordinal);
    }
}
