using MoeServe.Text.Tokenization;

namespace MoeServe.Text.Tests.Tokenization;

public sealed class CorpusEncoderTests(SampleTokenizerFixture fixture) : IClassFixture<SampleTokenizerFixture>
{
    [Fact]
    public void Encode_Sample_EndOfTextAfterEveryDocument()
    {
        string sample = TestData.Sample;
        int documents = CorpusEncoder.SplitDocuments(sample).Count;
        int endOfText = fixture.Description.EndOfTextId;

        int[] ids = new CorpusEncoder(fixture.Tokenizer, endOfText).Encode(sample);

        Assert.Equal(documents, ids.Count(id => id == endOfText));
        Assert.Equal(endOfText, ids[^1]);
        Assert.Equal(sample, fixture.Tokenizer.Decode(ids));
    }

    [Fact]
    public void Encode_Sample_SameAsTokenizerOnTheWholeText()
    {
        string sample = TestData.Sample;

        int[] ids = new CorpusEncoder(fixture.Tokenizer, fixture.Description.EndOfTextId).Encode(sample);

        Assert.Equal(fixture.Tokenizer.EncodeToIds(sample), ids);
    }

    [Fact]
    public void Encode_TextWithoutFinalMarker_StillEndsEachDocument()
    {
        int endOfText = fixture.Description.EndOfTextId;
        var encoder = new CorpusEncoder(fixture.Tokenizer, endOfText);

        int[] ids = encoder.Encode("first" + SpecialTokens.EndOfText + SpecialTokens.EndOfText + "second");

        Assert.Equal(2, ids.Count(id => id == endOfText));
        Assert.Equal(endOfText, ids[^1]);
        Assert.Empty(encoder.Encode(string.Empty));
    }

    [Fact]
    public void FromDirectory_FileOnDisk_EncodesLikeTheFixture()
    {
        using var directory = new TempDirectory();
        string path = Path.Combine(directory.Path, "train.txt");
        File.WriteAllText(path, TestData.Sample);

        int[] ids = CorpusEncoder.FromDirectory(fixture.Directory).EncodeFile(path);

        Assert.Equal(new CorpusEncoder(fixture.Tokenizer, fixture.Description.EndOfTextId).Encode(TestData.Sample), ids);
    }
}
