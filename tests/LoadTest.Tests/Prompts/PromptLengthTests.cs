using System.Text.Json.Nodes;
using MoeServe.LoadTest.Tests.Support;
using MoeServe.Text.Tokenization;

namespace MoeServe.LoadTest.Tests.Prompts;

/// <summary>
/// The committed prompts, encoded with the committed tokenizer, leave room for the default
/// MAX_TOKENS in a 256-token context (the small training preset's), so a load test at the
/// defaults is not failed by 400s for prompts that do not fit.
/// </summary>
public sealed class PromptLengthTests
{
    private const int Context = 256;
    private const int DefaultMaxTokens = 64;

    // Room for the chat template's role markers around a prompt.
    private const int ChatTemplateAllowance = 32;

    [Fact]
    public void CommittedPrompts_WithTheCommittedTokenizer_FitTheContextWithDefaultMaxTokens()
    {
        var tokenizer = TokenizerFiles.Load(RepositoryPaths.Of("models/tokenizer-4096"));
        var prompts = JsonNode.Parse(RepositoryPaths.Read("loadtest/prompts.json"))!["prompts"]!.AsArray();
        var counts = prompts.ToDictionary(p => (string)p!["id"]!, p => tokenizer.CountTokens((string)p!["text"]!));

        var longest = counts.MaxBy(c => c.Value);
        Assert.True(
            longest.Value + DefaultMaxTokens + ChatTemplateAllowance <= Context,
            $"{longest.Key} is {longest.Value} tokens: with max_tokens {DefaultMaxTokens} it does not fit a {Context}-token context (make-prompts.mjs --max-words)");

        // The length classes differ in tokens as well as words.
        double Mean(string cls) => counts.Where(c => c.Key.StartsWith(cls, StringComparison.Ordinal)).Average(c => c.Value);
        Assert.True(Mean("short-") < Mean("medium-") && Mean("medium-") < Mean("long-"));
    }
}
