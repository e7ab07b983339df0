using MoeServe.Runtime.Generation;
using MoeServe.Runtime.Sampling;
using MoeServe.Runtime.Tests.Support;

namespace MoeServe.Runtime.Tests.Generation;

public sealed class TokenOutputTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public void Flush_StopStringInHeldBackText_TurnsLengthIntoStop()
    {
        // Token 1 is "caf" plus the lead byte of "\u00e9": decoded it ends in U+FFFD, so the decoder holds
        // "caf" back; max tokens ends the sequence there, and only the flush shows the stop string.
        var tokenizer = new ByteTableTokenizer("x "u8.ToArray(), [(byte)'c', (byte)'a', (byte)'f', 0xC3]);
        var parameters = new SamplingParameters { MaxTokens = 2, Stop = ["caf"], StopAtEndOfText = false };
        using var output = new TokenOutput(tokenizer, parameters, endOfTextTokenId: -1, promptTokens: 1, contextLength: 64);

        string text = output.Append(new TokenLogprob(0, 0f)).Text + output.Append(new TokenLogprob(1, 0f)).Text;
        Assert.Equal(FinishReason.Length, output.FinishReason);
        text += output.Flush();

        Assert.Equal(FinishReason.Stop, output.FinishReason);
        Assert.Equal("x ", text);
        Assert.Equal(string.Empty, output.Flush());
    }

    [Fact]
    public void Flush_HeldBackTextWithoutStop_KeepsLengthAndShowsIt()
    {
        var tokenizer = new ByteTableTokenizer("x "u8.ToArray(), [(byte)'c', (byte)'a', (byte)'f', 0xC3]);
        var parameters = new SamplingParameters { MaxTokens = 2, Stop = ["zz"], StopAtEndOfText = false };
        using var output = new TokenOutput(tokenizer, parameters, endOfTextTokenId: -1, promptTokens: 1, contextLength: 64);

        string text = output.Append(new TokenLogprob(0, 0f)).Text + output.Append(new TokenLogprob(1, 0f)).Text + output.Flush();

        Assert.Equal(FinishReason.Length, output.FinishReason);
        Assert.Equal("x caf\uFFFD", text);
    }

    [Fact]
    public void Flush_BeforeFinish_Throws()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        using var output = new TokenOutput(engine.Tokenizer, new SamplingParameters(), engine.EndOfTextTokenId, 1, engine.ContextLength);
        Assert.Throws<InvalidOperationException>(() => output.Flush());
    }

    [Fact]
    public void Append_EndOfText_FinishesWithStopWithoutCountingIt()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        using var output = new TokenOutput(engine.Tokenizer, new SamplingParameters { MaxTokens = 8 }, endOfTextTokenId: 7, promptTokens: 1, engine.ContextLength);

        var step = output.Append(new TokenLogprob(7, -0.5f));

        Assert.False(step.Counted);
        Assert.Equal(FinishReason.Stop, step.Finish);
        Assert.Equal(0, output.Generated);
        Assert.Throws<InvalidOperationException>(() => output.Append(new TokenLogprob(3, 0f)));
    }

    [Fact]
    public void Append_ContextFillsBeforeMaxTokens_FinishesWithLength()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        var ids = engine.Tokenizer.EncodeToIds("abcdef").ToArray();
        using var output = new TokenOutput(engine.Tokenizer, new SamplingParameters { MaxTokens = 100, StopAtEndOfText = false }, engine.EndOfTextTokenId, promptTokens: 8, contextLength: 10);

        Assert.Null(output.Append(new TokenLogprob(ids[0], 0f)).Finish);
        Assert.Equal(FinishReason.Length, output.Append(new TokenLogprob(ids[1], 0f)).Finish);
        Assert.Equal(2, output.Generated);
    }

    [Fact]
    public void Append_WithLogprobs_GivesTokenTextAndAlternatives()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        int a = engine.Tokenizer.EncodeToIds("a")[0];
        int b = engine.Tokenizer.EncodeToIds("b")[0];
        using var output = new TokenOutput(engine.Tokenizer, new SamplingParameters { MaxTokens = 4, StopAtEndOfText = false }, engine.EndOfTextTokenId, 1, engine.ContextLength, logprobs: true);

        var step = output.Append(new TokenLogprob(a, -0.25f), [new TokenLogprob(a, -0.25f), new TokenLogprob(b, -2f)]);

        Assert.Equal("a", step.Text);
        Assert.Equal("a", step.Logprobs!.Text);
        Assert.Equal(-0.25f, step.Logprobs.Logprob);
        Assert.Equal(new[] { ("a", -0.25f), ("b", -2f) }, step.Logprobs.Top);
    }

    [Fact]
    public void Constructor_PromptFillsContext_Throws()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenOutput(engine.Tokenizer, new SamplingParameters(), engine.EndOfTextTokenId, promptTokens: 10, contextLength: 10));
    }
}
