using MoeServe.TestSupport;
using System.Text.Json;

using MoeServe.Cli.Tests.Support;

namespace MoeServe.Cli.Tests;

/// <summary><c>tokenizer encode|decode --from</c> on the Mixtral fixture's Hugging Face tokenizer.json.</summary>
public sealed class TokenizerEncodeFromTests
{
    private static readonly string Root = FindRoot();

    [Fact]
    public async Task Encode_FromFixtureDirectoryJson_GivesLlamaCppIds()
    {
        var (prompt, ids) = FirstCase();

        var result = await CliProcess.RunAsync("tokenizer", "encode", "--from", FixtureHf(), "--text", prompt, "--json");

        Assert.True(result.ExitCode == 0, result.Output);
        using var doc = JsonDocument.Parse(result.StandardOutput);
        Assert.Equal(ids, doc.RootElement.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()));
        Assert.Equal(ids.Length, doc.RootElement.GetProperty("count").GetInt32());
        Assert.Equal(ids.Length, doc.RootElement.GetProperty("tokens").GetArrayLength());
    }

    [Fact]
    public async Task Encode_Plain_PrintsCountIdsAndTokens()
    {
        var result = await CliProcess.RunAsync("tokenizer", "encode", "--from", Path.Combine(FixtureHf(), "tokenizer.json"), "--text", "<|im_start|>user\nhi<|im_end|>");

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("ids: 4096 ", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("\"<|im_start|>\"", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains(" tokens (ByteLevelBpe)", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decode_Ids_GivesThePromptBack()
    {
        var (prompt, ids) = FirstCase();

        var result = await CliProcess.RunAsync("tokenizer", "decode", "--from", FixtureHf(), "--ids", string.Join(',', ids));

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Equal(prompt, result.StandardOutput.TrimEnd('\n'));
    }

    [Fact]
    public async Task Decode_BadId_NamesTheFlag()
    {
        var result = await CliProcess.RunAsync("tokenizer", "decode", "--from", FixtureHf(), "--ids", "1,two");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--ids: 'two'", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Encode_UnknownFlag_NamesItAndExits2()
    {
        var result = await CliProcess.RunAsync("tokenizer", "encode", "--from", FixtureHf(), "--text", "hi", "--jsn");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("'--jsn'", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Encode_FromProjectTokenizer_PointsToDir()
    {
        var result = await CliProcess.RunAsync("tokenizer", "encode", "--from", Path.Combine(Root, "models", "tokenizer-4096"), "--text", "hi");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--from:", result.StandardError, StringComparison.Ordinal);
        Assert.Contains("tokenizer encode --dir", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Encode_WithDir_StillUsesTheProjectTokenizer()
    {
        var result = await CliProcess.RunAsync("tokenizer", "encode", "--dir", Path.Combine(Root, "models", "tokenizer-4096"), "--text", "hello world");

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("Decodes back to the input exactly.", result.StandardOutput, StringComparison.Ordinal);
    }

    private static (string Prompt, int[] Ids) FirstCase()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(FixtureHf(), "..", "expected.json")));
        var c = doc.RootElement.GetProperty("cases")[0];
        return (c.GetProperty("prompt").GetString()!, c.GetProperty("token_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray());
    }

    /// <summary>shared/fixtures/moe-import/mixtral/hf (SharedFixtures' lookup).</summary>
    private static string FixtureHf() => Path.Combine(SharedFixtures.Directory("moe-import"), "mixtral", "hf");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MoeServe.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("MoeServe.sln not found above " + AppContext.BaseDirectory);
    }
}
