using System.Text.Json.Nodes;

using MoeServe.Cli.Tests.Support;

namespace MoeServe.Cli.Tests;

public sealed class BenchCommandTests(TinyModelDirectory tiny) : IClassFixture<TinyModelDirectory>
{
    [Fact]
    public async Task Bench_TinyModel_ReportsLevelsGainsAndTheExpertCostModel()
    {
        var result = await CliProcess.RunAsync(
            "bench", "--model", tiny.Model, "--concurrency", "1,4", "--max-tokens", "4", "--prompt-tokens", "4",
            "--repeat", "1", "--no-routing-compare", "--json");

        Assert.True(result.ExitCode == 0, result.Output);
        var report = JsonNode.Parse(result.StandardOutput)!;
        var levels = report["levels"]!.AsArray();
        Assert.Equal([1, 4], levels.Select(l => (int)l!["concurrency"]!));
        foreach (var level in levels)
        {
            Assert.True((double)level!["batched"]!["decodeTokensPerSecond"]! > 0);
            Assert.True((double)level["batchingGain"]! > 0, result.StandardOutput);
            Assert.True((double)level["predictedExpertPhaseGain"]! > 0, result.StandardOutput);
        }

        var cost = report["expertCost"]!;
        Assert.Equal(6, cost["points"]!.AsArray().Count);
        double single = (double)cost["singleTokenMicroseconds"]!;
        double marginal = (double)cost["marginalMicrosecondsPerToken"]!;
        Assert.True(single > 0 && marginal > 0, result.StandardOutput);
        Assert.InRange((double)cost["ceilingGain"]!, single / marginal * 0.98, single / marginal * 1.02);
    }

    [Theory]
    [InlineData("--concurrency", "0")]
    [InlineData("--max-tokens", "-3")]
    public async Task Bench_BadFlag_FailsNamingTheFlag(string flag, string value)
    {
        var result = await CliProcess.RunAsync("bench", "--model", tiny.Model, flag, value);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains(flag, result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bench_MissingModel_FailsNamingTheDirectory()
    {
        string missing = Path.Combine(Path.GetTempPath(), "no-such-model-" + Guid.NewGuid().ToString("N"));
        var result = await CliProcess.RunAsync("bench", "--model", missing);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains(missing, result.Output, StringComparison.Ordinal);
    }
}
