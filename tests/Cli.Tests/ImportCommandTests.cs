using System.Text.Json.Nodes;
using MoeServe.Cli.Tests.Support;
using MoeServe.TestSupport;

namespace MoeServe.Cli.Tests;

/// <summary>
/// <c>import</c> end to end: a tiny Hugging Face Qwen2-MoE imports with per-layer progress, then eval
/// (--json) and generate run on it; a refused checkpoint exits 2 with one error line and writes nothing.
/// </summary>
public sealed class ImportCommandTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "moeserve-cli-import-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task Import_ThenEvalAndGenerate_Work()
    {
        string source = Path.Combine(_root, "hf");
        TinyHfCheckpoint.Write(HfFamily.Qwen2Moe, source, seed: 7);
        string model = Path.Combine(_root, "models", "tiny-qwen2");

        var import = await CliProcess.RunAsync("import", "--from", source, "--out", model, "--dtype", "float32");
        Assert.True(import.ExitCode == 0, import.Output);
        Assert.Contains("layer 1/2 written", import.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("layer 2/2 written", import.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("done: qwen2_moe", import.StandardOutput, StringComparison.Ordinal);

        string data = Path.Combine(_root, "data.txt");
        await File.WriteAllTextAsync(data, string.Concat(Enumerable.Repeat("In the beginning God created the heaven and the earth. ", 8)));
        var eval = await CliProcess.RunAsync("eval", "--model", model, "--data", data, "--seq-len", "32", "--tokens", "128", "--json", "--no-install");
        Assert.True(eval.ExitCode == 0, eval.Output);
        var json = JsonNode.Parse(eval.StandardOutput[eval.StandardOutput.IndexOf('{', StringComparison.Ordinal)..])!;
        Assert.True((double)json["perplexity"]! > 1);
        Assert.Equal(32, (int)json["sequenceLength"]!);

        var generate = await CliProcess.RunAsync("generate", "--model", model, "--prompt", "Hello", "--max-tokens", "5", "--temperature", "0");
        Assert.True(generate.ExitCode == 0, generate.Output);
    }

    [Fact]
    public async Task Import_Refused_ExitsTwoWithOneLineAndWritesNothing()
    {
        string source = Path.Combine(_root, "hf");
        TinyHfCheckpoint.Write(HfFamily.Qwen2Moe, source, seed: 7, configEdit: c => c["use_sliding_window"] = true);
        string model = Path.Combine(_root, "models", "refused");

        var result = await CliProcess.RunAsync("import", "--from", source, "--out", model);

        Assert.Equal(2, result.ExitCode);
        string error = Assert.Single(result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("use_sliding_window = true", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_root, "models")) && Directory.EnumerateFileSystemEntries(Path.Combine(_root, "models")).Any());
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }
}
