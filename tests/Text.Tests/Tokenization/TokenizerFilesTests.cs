using System.Text;
using System.Text.RegularExpressions;

using CsCheck;

using MoeServe.Text.Tokenization;

namespace MoeServe.Text.Tests.Tokenization;

public sealed class TokenizerFilesTests(SampleTokenizerFixture fixture) : IClassFixture<SampleTokenizerFixture>
{
    /// <summary>Printable ASCII, whitespace, any non-ASCII scalar value (BMP and astral, no lone surrogates), and the marker.</summary>
    private static readonly Gen<string> Piece = Gen.Frequency(
        (4, Gen.Int[0x20, 0x7E].Select(c => ((char)c).ToString())),
        (2, Gen.OneOf(Gen.Const(" "), Gen.Const("\n"), Gen.Const("\t"), Gen.Const("  "), Gen.Const("\r\n"))),
        (3, Gen.Int[0x80, 0x10FFFF - 0x800].Select(c => char.ConvertFromUtf32(c >= 0xD800 ? c + 0x800 : c))),
        (1, Gen.Const(SpecialTokens.EndOfText)));

    private static readonly Gen<string> Texts = Piece.Array[0, 60].Select(pieces => string.Concat(pieces));

    [Fact]
    public void Load_ArbitraryUnicode_DecodeOfEncodeIsTheInput()
    {
        Texts.Sample(text => fixture.Tokenizer.Decode(fixture.Tokenizer.EncodeToIds(text)) == text, iter: 2000);
    }

    [Fact]
    public void Load_SpecialTokenInText_EncodesAsOneId()
    {
        var tokenizer = fixture.Tokenizer;
        int endOfText = fixture.Description.EndOfTextId;

        var ids = tokenizer.EncodeToIds("In the beginning" + SpecialTokens.EndOfText + "A wise man");

        Assert.Equal(599, endOfText);
        Assert.Equal(1, ids.Count(id => id == endOfText));
        Assert.Equal(tokenizer.EncodeToIds("In the beginning").Count + 1 + tokenizer.EncodeToIds("A wise man").Count, ids.Count);
        Assert.Equal(SpecialTokens.EndOfText, tokenizer.Decode([endOfText]));
    }

    [Fact]
    public void Load_TrainedMerges_CompressTheSample()
    {
        string sample = TestData.Sample;
        int bytes = Encoding.UTF8.GetByteCount(sample);

        int tokens = fixture.Tokenizer.EncodeToIds(sample).Count;

        // 600 tokens trained on these 6 KB: well over two bytes per token; bytes alone would be one.
        Assert.True(tokens * 2 < bytes, $"{bytes} bytes -> {tokens} tokens");
    }

    [Fact]
    public void Load_Sample_AgreesWithReferenceRankBpe()
    {
        // An independent byte-level BPE over the saved ranks: per pre-tokenized word, repeatedly merge the
        // adjacent pair whose concatenation has the lowest rank (leftmost on ties); a word that is itself a
        // token is that token (tiktoken's rule). The loaded TiktokenTokenizer must agree.
        var vocabulary = fixture.Result.Vocabulary;
        var ranks = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < vocabulary.TokenBytes.Count; i++)
        {
            ranks[Encoding.Latin1.GetString(vocabulary.TokenBytes[i])] = i;
        }

        string sample = TestData.Sample.Replace(SpecialTokens.EndOfText, "\n", StringComparison.Ordinal);
        var expected = new List<int>();
        foreach (Match word in new Regex(PreTokenizerPattern.Gpt2).Matches(sample))
        {
            if (ranks.TryGetValue(Encoding.Latin1.GetString(Encoding.UTF8.GetBytes(word.Value)), out int whole))
            {
                expected.Add(whole);
                continue;
            }

            var parts = Encoding.UTF8.GetBytes(word.Value).Select(b => Encoding.Latin1.GetString([b])).ToList();
            while (true)
            {
                int best = -1, bestRank = int.MaxValue;
                for (int i = 0; i + 1 < parts.Count; i++)
                {
                    if (ranks.TryGetValue(parts[i] + parts[i + 1], out int rank) && rank < bestRank)
                    {
                        (best, bestRank) = (i, rank);
                    }
                }

                if (best < 0)
                {
                    break;
                }

                parts[best] += parts[best + 1];
                parts.RemoveAt(best + 1);
            }

            expected.AddRange(parts.Select(p => ranks[p]));
        }

        Assert.Equal(expected, fixture.Tokenizer.EncodeToIds(sample));
    }

    [Fact]
    public void Load_EveryOrdinaryToken_DecodesToItsBytes()
    {
        var vocabulary = fixture.Result.Vocabulary;
        for (int id = 0; id < vocabulary.TokenBytes.Count; id++)
        {
            byte[] bytes = vocabulary.TokenBytes[id];
            string text = Encoding.UTF8.GetString(bytes);
            if (Encoding.UTF8.GetByteCount(text) == bytes.Length && !text.Contains('\uFFFD', StringComparison.Ordinal))
            {
                Assert.Equal(text, fixture.Tokenizer.Decode([id]));
            }
        }
    }

    [Fact]
    public void ReadDescription_MatchesTheVocabulary()
    {
        var description = TokenizerFiles.ReadDescription(fixture.Directory);

        Assert.Equal(600, description.VocabSize);
        Assert.Equal(599, description.OrdinaryTokens);
        Assert.Equal(599, description.SpecialTokens[SpecialTokens.EndOfText]);
        Assert.Equal(PreTokenizerPattern.Gpt2, description.Pattern);
        Assert.Equal(599, File.ReadAllLines(Path.Combine(fixture.Directory, TokenizerFiles.VocabularyFileName)).Length);
    }

    [Fact]
    public void ReadVocabulary_SavedVocabulary_ReadsBackTheSameTokens()
    {
        var saved = fixture.Result.Vocabulary;

        var read = TokenizerFiles.ReadVocabulary(fixture.Directory);

        Assert.Equal(saved.TokenBytes.Count, read.TokenBytes.Count);
        Assert.All(Enumerable.Range(0, saved.TokenBytes.Count), i => Assert.Equal(saved.TokenBytes[i], read.TokenBytes[i]));
        Assert.Equal(saved.EndOfTextId, read.EndOfTextId);
        Assert.Equal(saved.Pattern, read.Pattern);
    }

    [Fact]
    public void ReadDescription_InconsistentFile_ListsEveryProblem()
    {
        using var directory = new TempDirectory();
        File.WriteAllText(Path.Combine(directory.Path, TokenizerFiles.DescriptionFileName),
            """{"format":"bpe","version":1,"vocabSize":10,"ordinaryTokens":5,"pattern":"x","specialTokens":{"<|endoftext|>":99}}""");

        var error = Assert.Throws<InvalidDataException>(() => TokenizerFiles.ReadDescription(directory.Path));

        Assert.Contains("format", error.Message, StringComparison.Ordinal);
        Assert.Contains("ordinaryTokens", error.Message, StringComparison.Ordinal);
        Assert.Contains("vocabSize", error.Message, StringComparison.Ordinal);
        Assert.Contains("id 99", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingDirectory_ThrowsFileNotFoundNamingTheFix()
    {
        var error = Assert.Throws<FileNotFoundException>(() => TokenizerFiles.Load("/nonexistent/tokenizer"));

        Assert.Contains("tokenizer train", error.Message, StringComparison.Ordinal);
    }
}
