using System.Text.Json.Nodes;
using MoeServe.Cli.Tests.Support;
using MoeServe.Model;
using MoeServe.Model.Quantization;

namespace MoeServe.Cli.Tests;

/// <summary><c>quantize</c> on a tiny model directory, <c>agreement</c> against its float twin, and the refusals of --weights.</summary>
public sealed class QuantizeCommandTests(TinyModelDirectory tiny) : IClassFixture<TinyModelDirectory>, IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "moeserve-cli-quantize-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task Quantize_TinyModel_WritesInt4ModelThatAgreesWithItsFloatTwin()
    {
        string output = Path.Combine(_root, "int4");
        var quantize = await CliProcess.RunAsync("quantize", "--model", tiny.Model, "--out", output, "--weights", "int4");
        Assert.True(quantize.ExitCode == 0, quantize.Output);
        Assert.Contains("round trip:", quantize.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(WeightQuantization.Int4, ModelManifest.Load(output).Weights);

        string data = Path.Combine(_root, "data.txt");
        await File.WriteAllTextAsync(data, string.Concat(Enumerable.Repeat("In the beginning God created the heaven and the earth. ", 8)));
        var agreement = await CliProcess.RunAsync("agreement", "--model", output, "--reference", tiny.Model, "--data", data, "--prompts", "2", "--prompt-tokens", "8", "--tokens", "8", "--json");
        Assert.True(agreement.ExitCode == 0, agreement.Output);
        var json = JsonNode.Parse(agreement.StandardOutput)!;
        Assert.Equal(16, (int)json["tokens"]!);
        Assert.InRange((double)json["teacherForcedAgreement"]!, 0.0, 1.0);
        Assert.Equal(2, json["commonPrefixes"]!.AsArray().Count);
    }

    [Theory]
    [InlineData("quantize", "float")]
    [InlineData("quantize", "int3")]
    [InlineData("export", "fp8")]
    public async Task Weights_Unsupported_RefusedNamingTheFlag(string command, string value)
    {
        string[] arguments = command == "quantize"
            ? ["quantize", "--model", tiny.Model, "--out", Path.Combine(_root, "x"), "--weights", value]
            : ["export", "--checkpoint", _root, "--out", Path.Combine(_root, "x"), "--weights", value];
        var result = await CliProcess.RunAsync(arguments);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"--weights must be one of", result.StandardError, StringComparison.Ordinal);
        Assert.Contains($"got '{value}'", result.StandardError, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_root, "x")));
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }
}
