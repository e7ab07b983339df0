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
