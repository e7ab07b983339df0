using MoeServe.Cli.Tests.Support;

namespace MoeServe.Cli.Tests;

public sealed class RoutingFlagTests(TinyModelDirectory tiny) : IClassFixture<TinyModelDirectory>
{
    [Fact]
    public async Task Generate_UnknownRouting_FailsNamingTheFlagAndTheNames()
    {
        var result = await CliProcess.RunAsync("generate", "--model", tiny.Model, "--prompt", "In the beginning", "--routing", "fastest");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--routing: 'fastest' is not one of trained, online-bip, topk.", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Generate_RoutingAlias_Runs()
    {
        var result = await CliProcess.RunAsync("generate", "--model", tiny.Model, "--prompt", "In the beginning", "--routing", "online-bip", "--max-tokens", "2", "--seed", "1");

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("routing online-bip", result.StandardError, StringComparison.Ordinal);
    }
}
