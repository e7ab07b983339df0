using MoeServe.Runtime.Tests.Support;

namespace MoeServe.Runtime.Tests.Engine;

/// <summary>A load reports its progress after each layer once it has run the interval, ending at every session open.</summary>
public sealed class LoadProgressTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public void Load_ReportsEachLayer_UpToEverySession()
    {
        var reports = new List<ModelLoadProgress>();
        var progress = new Recorder(reports);
        using (MoeEngine.Load(fixture.Model.Options(o => o with { LoadProgress = progress, LoadProgressInterval = TimeSpan.Zero })))
        {
        }

        var config = fixture.Model.Config;
        Assert.Equal(Enumerable.Range(1, config.Layers), reports.Select(r => r.Layer));
        Assert.All(reports, r => Assert.Equal((config.Layers, 2 + (config.Layers * (2 + config.Experts))), (r.Layers, r.TotalGraphs)));
        Assert.Equal(reports[^1].TotalGraphs, reports[^1].Graphs);
        Assert.True(reports.Zip(reports.Skip(1)).All(p => p.First.Graphs < p.Second.Graphs && p.First.Elapsed <= p.Second.Elapsed));
        Assert.Matches(@"^layer 1/\d+, \d+/\d+ graphs, \d+\.\d s$", reports[0].ToString());
    }

    [Fact]
    public void Load_FasterThanTheInterval_ReportsNothing()
    {
        var reports = new List<ModelLoadProgress>();
        using (MoeEngine.Load(fixture.Model.Options(o => o with { LoadProgress = new Recorder(reports), LoadProgressInterval = TimeSpan.FromHours(1) })))
        {
        }

        Assert.Empty(reports);
    }

    // Progress<T> would post to the thread pool; the loader reports on its own thread, so record synchronously.
    private sealed class Recorder(List<ModelLoadProgress> reports) : IProgress<ModelLoadProgress>
    {
        public void Report(ModelLoadProgress value) => reports.Add(value);
    }
}
