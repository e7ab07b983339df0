using System.Globalization;
using MoeServe.Server.Tests.Support;

namespace MoeServe.Server.Tests.Integration;

public sealed class ChunkedPrefillTests
{
    [Fact]
    public async Task LongPrompt_PrefilledInChunks_SameAnswerAndStepsWithinBudget()
    {
        var prompt = string.Concat(Enumerable.Range(0, 40).Select(i => $"w{i} ")); // ~150 byte tokens
        var request = $$"""{"prompt":"{{prompt}}","max_tokens":8,"temperature":0}""";

        string whole;
        await using (var unchunked = new ServerFactory(new() { ["MoeServe:PrefillChunkTokens"] = "512", ["MoeServe:MaxStepTokens"] = "512" }))
        {
            using var client = await unchunked.CreateReadyClientAsync();
            whole = Http.CompletionText(await Http.PostOkAsync(client, "/v1/completions", request));
        }

        await using var chunked = new ServerFactory(new() { ["MoeServe:PrefillChunkTokens"] = "16", ["MoeServe:MaxStepTokens"] = "24", ["MoeServe:MaxBatchSequences"] = "8" });
        using var chunkedClient = await chunked.CreateReadyClientAsync();

        // Short requests decode while the long prompt is prefilled 16 tokens per step.
        var shorts = Enumerable.Range(0, 6).Select(i => Http.PostOkAsync(chunkedClient, "/v1/completions", $$"""{"prompt":"short {{i}}","max_tokens":20,"temperature":0}""")).ToArray();
        var chunkedAnswer = Http.CompletionText(await Http.PostOkAsync(chunkedClient, "/v1/completions", request));
        await Task.WhenAll(shorts);

        Assert.Equal(whole, chunkedAnswer);
        var metrics = await chunkedClient.GetStringAsync("/metrics");
        var total = Http.MetricSum(metrics, "moeserve_engine_step_tokens_count");
        var withinBudget = metrics.Split('\n')
            .Where(l => l.StartsWith("moeserve_engine_step_tokens_bucket{le=\"32\"}", StringComparison.Ordinal))
            .Select(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture))
            .Single();
        Assert.True(total > 10);
        Assert.Equal(total, withinBudget); // no step above 24 tokens (the 32 bucket holds all)
        Assert.True(Http.MetricSum(metrics, "moeserve_prompt_tokens_total") >= prompt.Length);
    }
}
