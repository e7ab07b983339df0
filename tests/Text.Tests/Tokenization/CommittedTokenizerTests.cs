using System.Text;

using MoeServe.Text.Tokenization;

namespace MoeServe.Text.Tests.Tokenization;

/// <summary>The tokenizer committed in models/tokenizer-4096 (trained on the full corpus) loads and works.</summary>
public sealed class CommittedTokenizerTests
{
    [Fact]
    public void Load_CommittedTokenizer_HasDefaultVocabularyAndEndOfText()
    {
        var description = TokenizerFiles.ReadDescription(TestData.CommittedTokenizerDirectory);

        Assert.Equal(BpeTrainerOptions.DefaultVocabularySize, description.VocabSize);
        Assert.Equal(description.VocabSize - 1, description.EndOfTextId);
    }

    [Fact]
    public void Load_CommittedTokenizer_CompressesHeldOutSampleAndRoundTrips()
    {
        var encoder = CorpusEncoder.FromDirectory(TestData.CommittedTokenizerDirectory);
        var tokenizer = TokenizerFiles.Load(TestData.CommittedTokenizerDirectory);
        string sample = TestData.Sample;

        int[] ids = encoder.Encode(sample);

        // The sample is held out from the tokenizer's training text; English BPE at 4096 gives over 3 bytes per token.
        Assert.True(Encoding.UTF8.GetByteCount(sample) > 3 * ids.Length, $"{Encoding.UTF8.GetByteCount(sample)} bytes -> {ids.Length} tokens");
        Assert.Equal(sample, tokenizer.Decode(ids));
    }
}
