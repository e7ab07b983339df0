using MoeServe.Model;
using MoeServe.Router;
using MoeServe.Runtime.Tests.Support;
using MoeServe.TestSupport;

namespace MoeServe.Runtime.Tests.Engine;

public sealed class MoeEngineParityTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    private static readonly int[] Prompt = [72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100];

    [Fact]
    public void Forward_PrefillThenDecode_MatchesReferenceWithin1e4()
    {
        var model = fixture.Model;
        using var engine = MoeEngine.Load(model.Options());
        using var cache = engine.CreateCache();
        var logits = new float[engine.VocabSize];
        engine.Forward([new ForwardItem(cache, Prompt)], logits);
        Assert.True(Logits.MaxAbsDiff(logits, Logits.ReferenceLast(model.Reference, Prompt)) < 1e-4f);

        // Decode three tokens one at a time: the KV cache path must give the same as a full recompute.
        var sequence = Prompt.ToList();
        foreach (int next in new[] { 3, 200, 45 })
        {
            sequence.Add(next);
            engine.Forward([new ForwardItem(cache, new[] { next })], logits);
            Assert.True(Logits.MaxAbsDiff(logits, Logits.ReferenceLast(model.Reference, sequence)) < 1e-4f, $"after {sequence.Count} tokens");
        }

        Assert.Equal(sequence.Count, cache.Length);
    }

    [Fact]
    public void Forward_FillsCacheToContextLength_EveryRowMatchesReference()
    {
        // The KV cache is appended in place up to its last slot; a reused (cleared) cache holds stale
        // keys past Length that attention must never read.
        var model = fixture.Model;
        int context = model.Config.ContextLength;
        var random = new Random(5);
        int[] tokens = Enumerable.Range(0, context).Select(_ => random.Next(model.Config.VocabSize)).ToArray();
        using var engine = MoeEngine.Load(model.Options());
        using var cache = engine.CreateCache();
        int v = engine.VocabSize;
        engine.Forward([new ForwardItem(cache, tokens.Reverse().ToArray())], new float[v]);
        cache.Clear();

        int prefill = context - 3;
        var logits = new float[prefill * v];
        engine.ForwardAllPositions([new ForwardItem(cache, tokens[..prefill])], logits);
        var expected = model.Reference.Forward(tokens.Select(t => (long)t).ToArray());
        Assert.True(Logits.MaxAbsDiff(logits, expected.AsSpan(0, prefill * v)) < 1e-4f, "prefill rows");
        var step = new float[v];
        for (int i = prefill; i < context; i++)
        {
            engine.Forward([new ForwardItem(cache, tokens[i..(i + 1)])], step);
            Assert.True(Logits.MaxAbsDiff(step, expected.AsSpan(i * v, v)) < 1e-4f, $"decode at {i}");
        }

        Assert.Equal(0, cache.Remaining);
    }

    [Fact]
    public void ForwardAllPositions_TwoSequences_EveryRowMatchesReference()
    {
        var model = fixture.Model;
        using var engine = MoeEngine.Load(model.Options());
        using var a = engine.CreateCache();
        using var b = engine.CreateCache();
        int v = engine.VocabSize;
        int[] second = [3, 1, 4, 1, 5];
        var logits = new float[(Prompt.Length + second.Length) * v];
        engine.ForwardAllPositions([new ForwardItem(a, Prompt), new ForwardItem(b, second)], logits);
        var expectedA = model.Reference.Forward(Prompt.Select(t => (long)t).ToArray());
        var expectedB = model.Reference.Forward(second.Select(t => (long)t).ToArray());
        Assert.True(Logits.MaxAbsDiff(logits.AsSpan(0, Prompt.Length * v), expectedA) < 1e-4f);
        Assert.True(Logits.MaxAbsDiff(logits.AsSpan(Prompt.Length * v), expectedB) < 1e-4f);
        Assert.Throws<ArgumentException>(() => engine.ForwardAllPositions([new ForwardItem(a, second)], new float[v]));
    }

    [Fact]
    public void Forward_PlainTopKRouting_MatchesReferenceWithoutQ()
    {
        var model = fixture.Model;
        using var engine = MoeEngine.Load(model.Options(o => o with { Routing = RoutingMethod.TopK }));
        using var cache = engine.CreateCache();
        var logits = new float[engine.VocabSize];
        engine.Forward([new ForwardItem(cache, Prompt)], logits);
        Assert.True(Logits.MaxAbsDiff(logits, Logits.ReferenceLast(model.ReferencePlainTopK, Prompt)) < 1e-4f);

        // q is large enough to change some choices, so trained routing differs from plain top-K here.
        Assert.True(Logits.MaxAbsDiff(logits, Logits.ReferenceLast(model.Reference, Prompt)) > 1e-4f);
    }

    [Fact]
    public void Forward_BatchOfSequences_EqualsEachSequenceAlone()
    {
        var model = fixture.Model;
        using var engine = MoeEngine.Load(model.Options());
        int v = engine.VocabSize;
        int[][] prompts = [[1, 2, 3, 4, 5], [100], [7, 8, 9, 10, 11, 12, 13, 14], [256, 5, 5]];
        var batched = new float[prompts.Length * v];
        var caches = prompts.Select(_ => engine.CreateCache()).ToArray();
        try
        {
            engine.Forward(prompts.Select((p, i) => new ForwardItem(caches[i], p)).ToArray(), batched);
            for (int i = 0; i < prompts.Length; i++)
            {
                Assert.True(Logits.MaxAbsDiff(batched.AsSpan(i * v, v), Logits.ReferenceLast(model.Reference, prompts[i])) < 1e-4f, $"sequence {i}");
            }

            // A mixed step: one decode token for some, nothing for others.
            var step = new[] { new ForwardItem(caches[2], new[] { 42 }), new ForwardItem(caches[0], new[] { 43 }) };
            var stepLogits = new float[2 * v];
            engine.Forward(step, stepLogits);
            Assert.True(Logits.MaxAbsDiff(stepLogits.AsSpan(0, v), Logits.ReferenceLast(model.Reference, [.. prompts[2], 42])) < 1e-4f);
            Assert.True(Logits.MaxAbsDiff(stepLogits.AsSpan(v, v), Logits.ReferenceLast(model.Reference, [.. prompts[0], 43])) < 1e-4f);
        }
        finally
        {
            foreach (var c in caches)
            {
                c.Dispose();
            }
        }
    }

    [Fact]
    public void Forward_ChunkedPrefill_EqualsOnePrefill()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        var whole = new float[engine.VocabSize];
        var chunked = new float[engine.VocabSize];
        using (var cache = engine.CreateCache())
        {
            engine.Forward([new ForwardItem(cache, Prompt)], whole);
        }

        using (var cache = engine.CreateCache())
        {
            engine.Forward([new ForwardItem(cache, Prompt.AsMemory(0, 5))], chunked);
            engine.Forward([new ForwardItem(cache, Prompt.AsMemory(5))], chunked);
        }

        Assert.True(Logits.MaxAbsDiff(whole, chunked) < 1e-5f);
    }

    [Fact]
    public void Forward_PerTokenDispatchAndOneWorker_GiveSameLogitsAsBatched()
    {
        var model = fixture.Model;
        static float[] Run(RuntimeOptions options)
        {
            using var engine = MoeEngine.Load(options);
            using var a = engine.CreateCache();
            using var b = engine.CreateCache();
            var logits = new float[2 * engine.VocabSize];
            engine.Forward([new ForwardItem(a, Prompt), new ForwardItem(b, new[] { 9, 8, 7 })], logits);
            return logits;
        }

        var batched = Run(model.Options());
        var alwaysParallel = Run(model.Options(o => o with { MinParallelTokens = 1 }));
        var alwaysInline = Run(model.Options(o => o with { MinParallelTokens = 1000 }));
        Assert.Equal(batched, alwaysParallel);
        Assert.Equal(batched, alwaysInline);
        var perToken = Run(model.Options(o => o with { Dispatch = ExpertDispatchMode.PerToken }));
        var oneWorker = Run(model.Options(o => o with { ExpertWorkers = 1 }));
        Assert.True(Logits.MaxAbsDiff(batched, perToken) < 1e-5f);
        Assert.Equal(batched, oneWorker);
    }

    [Fact]
    public void Forward_Float16Export_MatchesReferenceWithin1e2()
    {
        using var model = TinyModel.Create(TinyCheckpoint.DefaultConfig, seed: 11, TensorDType.Float16);
        using var engine = MoeEngine.Load(model.Options());
        using var cache = engine.CreateCache();
        var logits = new float[engine.VocabSize];
        engine.Forward([new ForwardItem(cache, Prompt)], logits);
        Assert.True(Logits.MaxAbsDiff(logits, Logits.ReferenceLast(model.Reference, Prompt)) < 1e-2f);
    }

    [Fact]
    public void Forward_SharedExpertModel_MatchesReference()
    {
        var config = TinyCheckpoint.DefaultConfig with { SharedExpertHidden = 16, Layers = 3, Experts = 6, TopK = 3 };
        using var model = TinyModel.Create(config, seed: 5);
        using var engine = MoeEngine.Load(model.Options());
        using var cache = engine.CreateCache();
        var logits = new float[engine.VocabSize];
        engine.Forward([new ForwardItem(cache, Prompt)], logits);
        Assert.True(Logits.MaxAbsDiff(logits, Logits.ReferenceLast(model.Reference, Prompt)) < 1e-4f);
        engine.Forward([new ForwardItem(cache, new[] { 17 })], logits);
        Assert.True(Logits.MaxAbsDiff(logits, Logits.ReferenceLast(model.Reference, [.. Prompt, 17])) < 1e-4f);
    }
}
