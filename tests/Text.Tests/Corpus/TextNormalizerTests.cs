using MoeServe.Text.Corpus;

namespace MoeServe.Text.Tests.Corpus;

public sealed class TextNormalizerTests
{
    [Fact]
    public void Normalize_BackspaceOverstrike_KeepsTheOverstrikingText()
    {
        Assert.Equal("This is the LAST time.\n", TextNormalizer.Normalize("This is the ____\b\b\b\bLAST time."));
    }

    [Fact]
    public void Normalize_Tabs_ExpandToEightColumnStops()
    {
        Assert.Equal("ab      c\n        d\n", TextNormalizer.Normalize("ab\tc\n\td"));
    }

    [Fact]
    public void Normalize_LineEndsBlankLinesAndTrailingSpaces_Cleaned()
    {
        string raw = "\r\n\r\n  first line   \r\n\r\n\r\n\r\nsecond\rthird  \n\n\n";

        Assert.Equal("  first line\n\nsecond\nthird\n", TextNormalizer.Normalize(raw));
    }

    [Fact]
    public void Normalize_ControlCharactersAndMarker_Removed()
    {
        Assert.Equal("bell and bom and marker\n", TextNormalizer.Normalize("\uFEFFbell\a and bom and <|endoftext|>marker"));
        Assert.Equal(string.Empty, TextNormalizer.Normalize(" \n\t\n "));
    }

    [Fact]
    public void Normalize_DecomposedAccent_ComposedToNfc()
    {
        Assert.True(TextNormalizer.IsNfcAvailable);
        Assert.Equal("caf\u00e9\n", TextNormalizer.Normalize("cafe\u0301"));
    }

    [Fact]
    public void RepairMojibake_SingleAndDoubleEncodedUtf8_Repaired()
    {
        Assert.Equal("don\u2019t", TextNormalizer.RepairMojibake("don\u00e2\u0080\u0099t"));
        Assert.Equal("\u00a35", TextNormalizer.RepairMojibake("\u00c2\u00a35"));
        Assert.Equal("here\u2019s\n", TextNormalizer.Normalize("here\u00c3\u00a2\u00c2\u0080\u00c2\u0099s"));
    }

    [Fact]
    public void RepairMojibake_OrdinaryAccentedText_Unchanged()
    {
        const string text = "\u00fcber caf\u00e9 d'\u00e9tat Linuxkongre\u00df";

        Assert.Equal(text, TextNormalizer.RepairMojibake(text));
    }
}
