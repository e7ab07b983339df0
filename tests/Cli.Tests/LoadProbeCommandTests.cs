using System.Text.Json.Nodes;

using MoeServe.Cli.Tests.Support;

namespace MoeServe.Cli.Tests;

public sealed class LoadProbeCommandTests(TinyModelDirectory tiny) : IClassFixture<TinyModelDirectory>
{
    [Theory]
    [InlineData("true", true)]
    [InlineData("false", false)]
    public async Task LoadProbe_TinyModel_ReportsSessionsMemoryAndTheSharingAsked(string shared, bool expected)
    {
        var result = await CliProcess.RunAsync("load-probe", "--model", tiny.Model, "--shared-sessions", shared, "--warm-sequences", "2", "--json");

        Assert.True(result.ExitCode == 0, result.Output);
        var report = JsonNode.Parse(result.StandardOutput)!;
        int experts = (int)report["expertSessions"]!;
        Assert.True(experts > 0, result.StandardOutput);
        Assert.True((int)report["sessions"]! > experts, result.StandardOutput);
        Assert.Equal(expected, (bool)report["sharedThreadPools"]!);
        Assert.Equal(expected, (bool)report["sharedCpuArena"]!);
        Assert.True((double)report["rssAfterLoadMb"]! > (double)report["rssBeforeMb"]!, result.StandardOutput);
        Assert.True((double)report["kbPerGraphAfterWarm"]! > 0, result.StandardOutput);
    }

    [Fact]
    public async Task Bench_CompareSessions_ReportsSharedAndOwnPerLevel()
    {
        var result = await CliProcess.RunAsync(
            "bench", "--model", tiny.Model, "--concurrency", "2", "--max-tokens", "2", "--prompt-tokens", "2",
            "--repeat", "1", "--no-baseline", "--no-routing-compare", "--no-peak", "--compare-sessions", "--json");

        Assert.True(result.ExitCode == 0, result.Output);
        var sessions = JsonNode.Parse(result.StandardOutput)!["levels"]![0]!["sessions"]!;
        double sharedTps = (double)sessions["sharedTokensPerSecond"]!;
        double ownTps = (double)sessions["ownTokensPerSecond"]!;
        Assert.True(sharedTps > 0 && ownTps > 0, result.StandardOutput);
        Assert.InRange((double)sessions["sharedOverOwn"]!, sharedTps / ownTps * 0.999, sharedTps / ownTps * 1.001);
    }
}
