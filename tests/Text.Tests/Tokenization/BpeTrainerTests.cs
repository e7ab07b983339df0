using System.Text;

using MoeServe.Text.Tokenization;

namespace MoeServe.Text.Tests.Tokenization;

public sealed class BpeTrainerTests
{
    private static string TokenText(BpeVocabulary vocabulary, int id) => Encoding.UTF8.GetString(vocabulary.TokenBytes[id]);

    [Fact]
    public void Train_RepeatedWord_MergesMostFrequentPairFirst()
    {
        // Words: "ab", " ab", " ab". Pair counts: (a,b)=3, (' ',a)=2. So "ab" first, then " ab".
        var options = new BpeTrainerOptions { VocabularySize = 256 + 2 + 1 };
        var vocabulary = new BpeTrainer(options).Train(["ab ab ab"]).Vocabulary;

        Assert.Equal(258, vocabulary.TokenBytes.Count);
        Assert.Equal("ab", TokenText(vocabulary, 256));
        Assert.Equal(" ab", TokenText(vocabulary, 257));
        Assert.Equal(258, vocabulary.EndOfTextId);
        Assert.Equal(259, vocabulary.Count);
    }

    [Fact]
    public void Train_TiedCounts_PicksSmallestPairIds()
    {
        // Every pair occurs once: (a,b), (' ',c), (c,d). The smallest (left, right) is (' ', c): 32 < 97 < 99.
        var options = new BpeTrainerOptions { VocabularySize = 256 + 1 + 1, MinPairFrequency = 1 };
        var vocabulary = new BpeTrainer(options).Train(["ab cd"]).Vocabulary;

        Assert.Equal(" c", TokenText(vocabulary, 256));
    }

    [Fact]
    public void Train_PairsBelowMinimumFrequency_StopsEarly()
    {
        var options = new BpeTrainerOptions { VocabularySize = 1000, MinPairFrequency = 2 };
        var result = new BpeTrainer(options).Train(["xyz"]);

        Assert.Equal(0, result.Statistics.Merges);
        Assert.Equal(256, result.Vocabulary.TokenBytes.Count);
        Assert.Equal(256, result.Vocabulary.EndOfTextId);
    }

    [Fact]
    public void Train_SpecialTokenInText_IsNeverPartOfAMerge()
    {
        string text = string.Concat(Enumerable.Repeat("x" + SpecialTokens.EndOfText, 50));
        var vocabulary = new BpeTrainer(new BpeTrainerOptions { VocabularySize = 300 }).Train([text]).Vocabulary;

        // Only "x" words remain once the marker is cut out: nothing to merge.
        Assert.Equal(256, vocabulary.TokenBytes.Count);
        Assert.DoesNotContain(vocabulary.TokenBytes.Skip(256), t => Encoding.UTF8.GetString(t).Contains('|', StringComparison.Ordinal));
    }

    [Fact]
    public void Train_Twice_GivesIdenticalVocabulary()
    {
        var options = new BpeTrainerOptions { VocabularySize = 400 };
        var first = new BpeTrainer(options).Train([TestData.Sample]).Vocabulary;
        var second = new BpeTrainer(options).Train([TestData.Sample]).Vocabulary;

        Assert.Equal(first.TokenBytes.Count, second.TokenBytes.Count);
        for (int i = 0; i < first.TokenBytes.Count; i++)
        {
            Assert.Equal(first.TokenBytes[i], second.TokenBytes[i]);
        }
    }

    [Fact]
    public void Train_Sample_AllTokenByteStringsDistinct()
    {
        var vocabulary = new BpeTrainer(new BpeTrainerOptions { VocabularySize = 800 }).Train([TestData.Sample]).Vocabulary;

        var distinct = vocabulary.TokenBytes.Select(Convert.ToBase64String).Distinct(StringComparer.Ordinal).Count();
        Assert.Equal(vocabulary.TokenBytes.Count, distinct);
        Assert.True(vocabulary.TokenBytes.Count > 400, $"expected many merges on the sample, got {vocabulary.TokenBytes.Count - 256}");
    }

    [Fact]
    public void Constructor_SeveralBadOptions_ListsEveryProblem()
    {
        var options = new BpeTrainerOptions { VocabularySize = 10, MinPairFrequency = 0, SpecialTokens = ["<a>", "<a>"], Pattern = "(" };

        var error = Assert.Throws<ArgumentException>(() => new BpeTrainer(options));

        Assert.Contains("--vocab", error.Message, StringComparison.Ordinal);
        Assert.Contains("--min-frequency", error.Message, StringComparison.Ordinal);
        Assert.Contains("distinct", error.Message, StringComparison.Ordinal);
        Assert.Contains("Pattern", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Train_WithProgress_ReportsMergesUpToTheTotal()
    {
        var reports = new List<BpeTrainingProgress>();
        var options = new BpeTrainerOptions { VocabularySize = 400, ProgressInterval = 10 };
        new BpeTrainer(options).Train([TestData.Sample], new SynchronousProgress(reports.Add));

        var merges = reports.Where(r => r.Stage == "merge").ToList();
        Assert.True(merges.Count >= 10);
        Assert.Equal(400 - 257, merges[^1].Total);
        Assert.Equal(merges[^1].Total, merges[^1].Done);
        Assert.True(merges.Zip(merges.Skip(1)).All(p => p.First.Done <= p.Second.Done));
    }

    private sealed class SynchronousProgress(Action<BpeTrainingProgress> report) : IProgress<BpeTrainingProgress>
    {
        public void Report(BpeTrainingProgress value) => report(value);
    }
}
