namespace MoeServe.Router.Tests.Statistics;

public class LoadStatisticsTests
{
    [Fact]
    public void MaxViolation_KnownLoads_IsMaxOverMeanMinusOne()
    {
        Assert.Equal(0.5, LoadStatistics.MaxViolation([6, 2, 4, 4]), 12);
        Assert.Equal(0.0, LoadStatistics.MaxViolation([3, 3, 3]), 12);
    }

    [Fact]
    public void Tracker_ThreeBatches_AverageSupAndGlobal()
    {
        var tracker = new MaxVioTracker(2);
        tracker.RecordLoads([3, 1]); // 0.5
        tracker.RecordLoads([2, 2]); // 0
        tracker.RecordLoads([1, 3]); // 0.5

        Assert.Equal(1.0 / 3, tracker.Average, 12);
        Assert.Equal(0.5, tracker.Supremum, 12);
        Assert.Equal(0.5, tracker.Last, 12);
        Assert.Equal(0.0, tracker.Global, 12);
    }

    [Fact]
    public void ScoreRetention_PlainTopK_IsOne()
    {
        float[] s = [0.1f, 0.6f, 0.3f];
        Assert.Equal(1.0, LoadStatistics.ScoreRetention(s, new RoutingShape(1, 3, 1), [1]), 12);
        Assert.Equal(0.5, LoadStatistics.ScoreRetention(s, new RoutingShape(1, 3, 1), [2]), 6);
    }
}
