using MoeServe.Cli.Tests.Support;
using MoeServe.Model;

namespace MoeServe.Cli.Tests;

public sealed class CalibrateCommandTests(TinyModelDirectory tiny) : IClassFixture<TinyModelDirectory>
{
    [Fact]
    public async Task Calibrate_ThenRestore_WritesQWithItsSource_AndBringsThePreviousQBack()
    {
        var exported = ModelManifest.Load(tiny.Model);
        string text = Path.Combine(tiny.Model, "..", "calibration.txt");
        await File.WriteAllTextAsync(text, string.Join(' ', Enumerable.Range(0, 400).Select(i => $"word{i % 37} and more text {i}")));

        var calibrated = await CliProcess.RunAsync("calibrate", "--model", tiny.Model, "--data", text, "--tokens", "0", "--batch-tokens", "64", "--seq-len", "32", "--average-window", "10");

        Assert.True(calibrated.ExitCode == 0, calibrated.Output);
        Assert.Contains("wrote q into", calibrated.StandardOutput, StringComparison.Ordinal);
        var manifest = ModelManifest.Load(tiny.Model);
        Assert.NotNull(manifest.Routing.QSource);
        Assert.Equal(64, manifest.Routing.QSource!.BatchTokens);
        Assert.Equal(text, manifest.Routing.QSource.Data);
        Assert.Equal(exported.Routing.Q, manifest.Routing.PreviousQ!.Q);
        Assert.NotEqual(exported.Routing.Q, manifest.Routing.Q);

        var restored = await CliProcess.RunAsync("calibrate", "--model", tiny.Model, "--restore");

        Assert.True(restored.ExitCode == 0, restored.Output);
        var back = ModelManifest.Load(tiny.Model);
        Assert.Equal(exported.Routing.Q, back.Routing.Q);
        Assert.Null(back.Routing.QSource);
        Assert.Equal(manifest.Routing.Q, back.Routing.PreviousQ!.Q);
    }

    [Fact]
    public async Task Calibrate_BadFlags_ListsEveryOneByName()
    {
        var result = await CliProcess.RunAsync("calibrate", "--model", tiny.Model, "--data", "/nonexistent.txt", "--batch-tokens", "1", "--iterations", "0");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--data: text file not found", result.StandardError, StringComparison.Ordinal);
        Assert.Contains("--batch-tokens must be in [2, 65536], got 1.", result.StandardError, StringComparison.Ordinal);
        Assert.Contains("--iterations must be in [1, 64], got 0.", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Generate_QScaleOutOfRange_FailsNamingTheFlag()
    {
        var result = await CliProcess.RunAsync("generate", "--model", tiny.Model, "--prompt", "x", "--q-scale", "-1");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--q-scale must be a number in [0, 16], got -1.", result.StandardError, StringComparison.Ordinal);
    }
}
