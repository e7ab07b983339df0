using MoeServe.Runtime.Generation;
using MoeServe.Runtime.Sampling;
using MoeServe.Runtime.Tests.Support;

namespace MoeServe.Runtime.Tests.Generation;

public sealed class TextGeneratorTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public void Generate_Greedy_FollowsReferenceArgMax()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        var result = new TextGenerator(engine).Generate("Hi", new SamplingParameters { Temperature = 0, MaxTokens = 5, StopAtEndOfText = false });

        // The reference model's greedy continuation, token by token.
        var tokens = engine.Tokenizer.EncodeToIds("Hi").ToList();
        int prompt = tokens.Count;
        for (int i = 0; i < 5; i++)
        {
            var logits = Logits.ReferenceLast(fixture.Model.Reference, tokens);
            tokens.Add(Array.IndexOf(logits, logits.Max()));
        }

        using var decoder = new IncrementalDecoder(engine.Tokenizer);
        string expected = string.Concat(tokens.Skip(prompt).Select(decoder.Append)) + decoder.Flush();
        Assert.Equal(expected, result.Text);
        Assert.Equal(5, result.CompletionTokens);
        Assert.Equal(prompt, result.PromptTokens);
        Assert.Equal(FinishReason.Length, result.FinishReason);
    }

    [Fact]
    public void Generate_SameSeed_SameTextAndStreamedPiecesAddUp()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        var generator = new TextGenerator(engine);
        var p = new SamplingParameters { Temperature = 1.0, Seed = 123, MaxTokens = 12, StopAtEndOfText = false };
        var streamed = new List<string>();
        var a = generator.Generate("abc", p, streamed.Add);
        var b = generator.Generate("abc", p);
        Assert.Equal(a.Text, b.Text);
        Assert.Equal(a.Text, string.Concat(streamed));
        Assert.Equal(0, engine.LiveCacheCount);
    }

    [Fact]
    public void Generate_StopSequence_CutsTextAndReportsStop()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        var generator = new TextGenerator(engine);
        var free = generator.Generate("xy", new SamplingParameters { Temperature = 0, MaxTokens = 8, StopAtEndOfText = false });
        Assert.True(free.Text.Length >= 3);
        string stop = free.Text.Substring(2, 1);
        var stopped = generator.Generate("xy", new SamplingParameters { Temperature = 0, MaxTokens = 8, StopAtEndOfText = false, Stop = [stop] });
        Assert.Equal(FinishReason.Stop, stopped.FinishReason);
        Assert.Equal(free.Text[..free.Text.IndexOf(stop, StringComparison.Ordinal)], stopped.Text);
    }

    [Fact]
    public void Generate_PromptLongerThanContext_ThrowsNamingContextLength()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        var ex = Assert.Throws<ArgumentException>(() => new TextGenerator(engine).Generate(new string('a', engine.ContextLength + 5), new SamplingParameters()));
        Assert.Contains("context length", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Generate_ReachesContextLength_StopsWithLength()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        var result = new TextGenerator(engine).Generate("a", new SamplingParameters { Temperature = 0, MaxTokens = 1000, StopAtEndOfText = false });
        Assert.Equal(FinishReason.Length, result.FinishReason);
        Assert.Equal(engine.ContextLength, result.PromptTokens + result.CompletionTokens);
    }

    [Fact]
    public void Generate_SteppingClock_PrefillEndsAndDecodeStartsAtTheFirstSampledToken()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        var clock = new SteppingClock(TimeSpan.FromMilliseconds(10));
        var result = new TextGenerator(engine, clock).Generate("Hi", new SamplingParameters { Temperature = 0, MaxTokens = 9, StopAtEndOfText = false });

        // Three readings: before the prompt's pass (0), at the first sampled token (10 ms), at the end (20 ms).
        Assert.Equal(3, clock.Readings);
        Assert.Equal(TimeSpan.FromMilliseconds(10).Ticks, result.FirstTokenTimestamp);
        Assert.Equal(TimeSpan.FromMilliseconds(10), result.PrefillTime);
        Assert.Equal(TimeSpan.FromMilliseconds(10), result.DecodeTime);
        Assert.Equal(8 / 0.010, result.DecodeTokensPerSecond, 6);
    }

    /// <summary>A clock that moves on by a fixed step each time it is read.</summary>
    private sealed class SteppingClock(TimeSpan step) : TimeProvider
    {
        public int Readings { get; private set; }

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => step.Ticks * Readings++;
    }
}
