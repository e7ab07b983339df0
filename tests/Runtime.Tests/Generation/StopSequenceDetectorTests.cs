using MoeServe.Runtime.Generation;

namespace MoeServe.Runtime.Tests.Generation;

public sealed class StopSequenceDetectorTests
{
    [Fact]
    public void Append_StopSplitAcrossPieces_HoldsBackPrefixAndCutsBeforeStop()
    {
        var detector = new StopSequenceDetector(["\n\n", "END"]);
        Assert.Equal("Hello", detector.Append("Hello"));
        Assert.Equal(" wor", detector.Append(" worE"));
        Assert.False(detector.Stopped);
        Assert.Equal("EX", detector.Append("X"));
        Assert.Equal("ld", detector.Append("ldEN"));
        Assert.Equal(string.Empty, detector.Append("D and more"));
        Assert.True(detector.Stopped);
        Assert.Equal("END", detector.MatchedStop);
        Assert.Equal(string.Empty, detector.Append("ignored"));
    }

    [Fact]
    public void Append_TwoStopsInOnePiece_EarliestWins()
    {
        var detector = new StopSequenceDetector(["b", "a"]);
        Assert.Equal("xx", detector.Append("xxab"));
        Assert.Equal("a", detector.MatchedStop);
    }

    [Fact]
    public void Flush_PrefixThatNeverCompleted_IsReturned()
    {
        var detector = new StopSequenceDetector(["STOP"]);
        Assert.Equal("go ", detector.Append("go ST"));
        Assert.Equal("ST", detector.Flush());
    }

    [Fact]
    public void Append_NoStops_PassesThrough()
    {
        var detector = new StopSequenceDetector([]);
        Assert.Equal("abc", detector.Append("abc"));
        Assert.Equal(string.Empty, detector.Flush());
    }

    [Fact]
    public void Constructor_EmptyStop_Throws()
    {
        Assert.Throws<ArgumentException>(() => new StopSequenceDetector([""]));
    }
}
