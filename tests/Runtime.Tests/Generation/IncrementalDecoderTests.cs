using MoeServe.Runtime.Generation;
using MoeServe.Runtime.Tests.Support;

namespace MoeServe.Runtime.Tests.Generation;

public sealed class IncrementalDecoderTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public void Append_MultiByteCharacterSplitAcrossTokens_HeldBackUntilComplete()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        var ids = engine.Tokenizer.EncodeToIds("a\u00e9\u4e2d!");
        Assert.True(ids.Count >= 5, "the byte-level tokenizer splits multi-byte characters");
        using var decoder = new IncrementalDecoder(engine.Tokenizer, capacity: 2);
        var pieces = ids.Select(decoder.Append).ToList();
        Assert.Contains(string.Empty, pieces);
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD', StringComparison.Ordinal));
        Assert.Equal("a\u00e9\u4e2d!", string.Concat(pieces) + decoder.Flush());
        Assert.Equal(ids.Count, decoder.Count);
    }

    [Fact]
    public void Flush_DanglingPartialCharacter_ReturnsNoBrokenText()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        var ids = engine.Tokenizer.EncodeToIds("\u00e9");
        using var decoder = new IncrementalDecoder(engine.Tokenizer);
        Assert.Equal(string.Empty, decoder.Append(ids[0]));
        Assert.Contains(decoder.Flush(), new[] { string.Empty, "\uFFFD" });
        Assert.Equal("\u00e9", decoder.Append(ids[1]) + decoder.Flush());
    }
}
