using System.Globalization;
using System.Text.RegularExpressions;
using MoeServe.Cli.Tests.Support;

namespace MoeServe.Cli.Tests;

public sealed partial class GenerateCommandTests(TinyModelDirectory tiny) : IClassFixture<TinyModelDirectory>
{
    [Fact]
    public async Task Generate_IgnoreEos_RunsToMaxTokensAndReportsFirstTokenAfterProcessStartAndDecodeRate()
    {
        var result = await CliProcess.RunAsync("generate", "--model", tiny.Model, "--prompt", "In the beginning", "--max-tokens", "7", "--temperature", "0", "--ignore-eos");

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("+ 7 generated tokens, finish: length;", result.StandardError, StringComparison.Ordinal);
        var times = Summary().Match(result.StandardError);
        Assert.True(times.Success, result.StandardError);
        double firstToken = double.Parse(times.Groups["first"].Value, CultureInfo.InvariantCulture);
        double load = double.Parse(times.Groups["load"].Value, CultureInfo.InvariantCulture);
        double prompt = double.Parse(times.Groups["prompt"].Value, CultureInfo.InvariantCulture);

        // Process start to first token covers the model load and the prompt's pass (start time has 10 ms resolution).
        Assert.True(firstToken + 10 >= load + prompt, result.StandardError);
        Assert.True(double.Parse(times.Groups["decode"].Value, CultureInfo.InvariantCulture) > 0, result.StandardError);
    }

    [GeneratedRegex(@"first token (?<first>\d+) ms after process start \(model load (?<load>\d+) ms, prompt (?<prompt>[\d.]+) ms\); decode (?<decode>[\d.]+) tokens/s")]
    private static partial Regex Summary();
}
