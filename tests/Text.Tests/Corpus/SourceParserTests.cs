using System.Text;

using MoeServe.Text.Corpus;

namespace MoeServe.Text.Tests.Corpus;

public sealed class SourceParserTests
{
    private const string BibleExcerpt = """

        Genesis 50

          25 And Joseph took an oath of the children of Israel, saying, God will
        surely visit you.
          26 So Joseph died, being an hundred and ten years old.

        1 Samuel 1

          1 Now there was a certain man of Ramathaimzophim, of mount Ephraim, and his
        name was Elkanah.
          2 And he had two wives.

        Song of Solomon 2

          1 I am the rose of Sharon, and the lily of the valleys.
        """;

    [Fact]
    public void KjvParse_Excerpt_OneDocumentPerChapterGroupedByBook()
    {
        var documents = KjvBibleSource.Parse(BibleExcerpt);

        Assert.Equal(["Genesis 50", "1 Samuel 1", "Song of Solomon 2"], documents.Select(d => d.Title));
        Assert.Equal(["Genesis", "1 Samuel", "Song of Solomon"], documents.Select(d => d.Group));
        Assert.All(documents, d => Assert.Equal("bible", d.Source));
    }

    [Fact]
    public void KjvParse_Verses_NumbersStrippedAndWrappedLinesJoined()
    {
        var samuel = KjvBibleSource.Parse(BibleExcerpt)[1];

        Assert.Equal(
            "1 Samuel 1\nNow there was a certain man of Ramathaimzophim, of mount Ephraim, and his name was Elkanah.\nAnd he had two wives.\n",
            samuel.Text);
    }

    [Fact]
    public void FortuneParse_PercentLines_SeparateQuotationsOfOneGroup()
    {
        var documents = FortuneSource.Parse("science", "First quote.\n\t-- Someone\n%\nSecond\nquote.\n%\n%\n");

        Assert.Equal(2, documents.Count);
        Assert.Equal("First quote.\n\t-- Someone", documents[0].Text);
        Assert.Equal("Second\nquote.", documents[1].Text);
        Assert.All(documents, d => Assert.Equal("science", d.Group));
        Assert.Equal(["science#1", "science#2"], documents.Select(d => d.Title));
    }

    [Fact]
    public void DevilDecodeNumber_DictdBase64_BigEndianDigits()
    {
        Assert.Equal(0, DevilsDictionarySource.DecodeNumber("A"));
        Assert.Equal(63, DevilsDictionarySource.DecodeNumber("/"));
        Assert.Equal(64 + 2, DevilsDictionarySource.DecodeNumber("BC"));
        Assert.Equal(-1, DevilsDictionarySource.DecodeNumber("!"));
    }

    [Fact]
    public void DevilParse_IndexAndBody_OneEntryPerHeadwordSkippingMetadata()
    {
        byte[] body = Encoding.UTF8.GetBytes("HEADERABSURDITY, n. A statement.\nBORE, n. A person.\n");
        // Offsets/lengths in dictd base64: G = 6, b = 27, h = 33, T = 19. "bore-again" repeats an offset.
        string index = "00databaseinfo\tA\tG\nabsurdity\tG\tb\nbore\th\tT\nbore-again\th\tT\n";

        var documents = DevilsDictionarySource.Parse(index, body);

        Assert.Equal(["absurdity", "bore"], documents.Select(d => d.Title));
        Assert.Equal("ABSURDITY, n. A statement.\n", documents[0].Text);
        Assert.Equal(["A", "B"], documents.Select(d => d.Group));
    }

    [Fact]
    public void PlainTextCut_WithMarkers_CutsAtMarkers()
    {
        var pieces = PlainTextSource.Cut("one<|endoftext|>two<|endoftext|>  <|endoftext|>");

        Assert.Equal(["one", "two"], pieces);
    }

    [Fact]
    public void PlainTextCut_WithoutMarkers_ChunksAtBlankLines()
    {
        string paragraph = new string('x', 3000);
        var pieces = PlainTextSource.Cut($"{paragraph}\n\n{paragraph}\n\n{paragraph}");

        Assert.Equal(2, pieces.Count);
        Assert.All(pieces, p => Assert.DoesNotContain(p.Trim('\n').Split("\n\n"), part => part.Length != paragraph.Length));
        Assert.Equal(3 * paragraph.Length, pieces.Sum(p => p.Count(c => c == 'x')));
    }

    [Fact]
    public void PlainTextSource_Folder_GroupsByFile()
    {
        using var directory = new TempDirectory();
        File.WriteAllText(Path.Combine(directory.Path, "a.txt"), "alpha<|endoftext|>beta<|endoftext|>");
        Directory.CreateDirectory(Path.Combine(directory.Path, "sub"));
        File.WriteAllText(Path.Combine(directory.Path, "sub", "b.txt"), "gamma");

        var documents = new PlainTextSource(directory.Path).ReadDocuments().ToList();

        Assert.Equal(["alpha", "beta", "gamma"], documents.Select(d => d.Text.Trim()));
        Assert.Equal(["a.txt", "a.txt", Path.Combine("sub", "b.txt")], documents.Select(d => d.Group));
    }
}
