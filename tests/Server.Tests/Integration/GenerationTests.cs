using System.Net;
using System.Text.Json;
using MoeServe.Server.Tests.Support;

namespace MoeServe.Server.Tests.Integration;

public sealed class GenerationTests(SharedServer server) : IClassFixture<SharedServer>
{
    private readonly HttpClient _client = server.Client;

    [Fact]
    public async Task Completions_GreedyRequest_ReturnsOpenAiShapeAndUsage()
    {
        var body = await Http.PostOkAsync(_client, "/v1/completions", """{"model":"tiny","prompt":"The quick brown fox","max_tokens":6,"temperature":0}""");

        Assert.StartsWith("cmpl-", body.GetProperty("id").GetString(), StringComparison.Ordinal);
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        Assert.Equal("tiny", body.GetProperty("model").GetString());
        Assert.True(body.GetProperty("created").GetInt64() > 1_600_000_000);
        var choice = body.GetProperty("choices")[0];
        Assert.Equal(0, choice.GetProperty("index").GetInt32());
        var finish = choice.GetProperty("finish_reason").GetString();
        var usage = body.GetProperty("usage");
        var completionTokens = usage.GetProperty("completion_tokens").GetInt32();
        Assert.Equal(19, usage.GetProperty("prompt_tokens").GetInt32()); // byte-level tokenizer: one token per byte
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32() + completionTokens, usage.GetProperty("total_tokens").GetInt32());
        Assert.True(finish == "length" ? completionTokens == 6 : finish == "stop" && completionTokens < 6, $"{finish} after {completionTokens}");
    }

    [Fact]
    public async Task Completions_SameSeed_SameText_DifferentSeeds_Differ()
    {
        async Task<string> Run(int seed) => Http.CompletionText(await Http.PostOkAsync(_client, "/v1/completions", $$"""{"prompt":"Once upon a time","max_tokens":24,"temperature":1.0,"seed":{{seed}}}"""));

        var first = await Run(7);
        var again = await Run(7);
        var others = new[] { await Run(8), await Run(9), await Run(10) };

        Assert.Equal(first, again);
        Assert.Contains(others, o => o != first);
    }

    [Fact]
    public async Task Completions_Streaming_MatchesNonStreamingAndEndsWithUsageAndDone()
    {
        const string prompt = "Streaming test";
        var whole = await Http.PostOkAsync(_client, "/v1/completions", $$"""{"prompt":"{{prompt}}","max_tokens":12,"temperature":0}""");

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = new StringContent($$$"""{"prompt":"{{{prompt}}}","max_tokens":12,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}""", System.Text.Encoding.UTF8, "application/json"),
        };
        using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var chunks = Sse.Json(await Sse.ReadAllAsync(response));

        var usageChunk = chunks[^1];
        Assert.Equal(0, usageChunk.GetProperty("choices").GetArrayLength());
        Assert.Equal(whole.GetProperty("usage").GetProperty("total_tokens").GetInt32(), usageChunk.GetProperty("usage").GetProperty("total_tokens").GetInt32());
        var withChoices = chunks.Take(chunks.Count - 1).ToList();
        Assert.All(withChoices, c => Assert.Equal("text_completion", c.GetProperty("object").GetString()));
        Assert.Single(withChoices.Select(c => c.GetProperty("id").GetString()).Distinct());
        var text = string.Concat(withChoices.Select(c => c.GetProperty("choices")[0].GetProperty("text").GetString()));
        Assert.Equal(Http.CompletionText(whole), text);
        Assert.Equal(whole.GetProperty("choices")[0].GetProperty("finish_reason").GetString(), withChoices[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.All(withChoices.SkipLast(1), c => Assert.Equal(JsonValueKind.Null, c.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind));
    }

    [Fact]
    public async Task Chat_NonStreamingAndStreaming_AgreeAndUseTheManifestTemplate()
    {
        const string messages = """[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi there"}]""";
        var body = await Http.PostOkAsync(_client, "/v1/chat/completions", $$"""{"model":"tiny","messages":{{messages}},"max_completion_tokens":10,"temperature":0}""");

        Assert.StartsWith("chatcmpl-", body.GetProperty("id").GetString(), StringComparison.Ordinal);
        Assert.Equal("chat.completion", body.GetProperty("object").GetString());
        var message = body.GetProperty("choices")[0].GetProperty("message");
        Assert.Equal("assistant", message.GetProperty("role").GetString());
        // "System: Be brief.\n\nUser: Hi there\n\nAssistant:" in bytes.
        Assert.Equal("System: Be brief.\n\nUser: Hi there\n\nAssistant:".Length, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent($$"""{"messages":{{messages}},"max_tokens":10,"temperature":0,"stream":true}""", System.Text.Encoding.UTF8, "application/json"),
        };
        using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var chunks = Sse.Json(await Sse.ReadAllAsync(response));
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        var streamed = string.Concat(chunks.Select(c => c.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("content", out var t) ? t.GetString() : ""));
        Assert.Equal(message.GetProperty("content").GetString(), streamed);
        Assert.Equal(body.GetProperty("choices")[0].GetProperty("finish_reason").GetString(), chunks[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Completions_StopSequence_CutsBeforeItAndFinishesWithStop()
    {
        var full = Http.CompletionText(await Http.PostOkAsync(_client, "/v1/completions", """{"prompt":"Stop here please","max_tokens":40,"temperature":0}"""));
        // Pick a two-character stop string from the middle of the greedy output (no replacement characters).
        var at = Enumerable.Range(3, Math.Max(0, full.Length - 5)).First(i => !full.AsSpan(i, 2).Contains('\uFFFD'));
        var stop = full.Substring(at, 2);
        var expected = full[..full.IndexOf(stop, StringComparison.Ordinal)];

        var body = await Http.PostOkAsync(_client, "/v1/completions", $$"""{"prompt":"Stop here please","max_tokens":40,"temperature":0,"stop":[{{JsonSerializer.Serialize(stop)}}]}""");

        Assert.Equal(expected, Http.CompletionText(body));
        Assert.Equal("stop", body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Completions_LogprobsAndEcho_ReturnTopAlternatives()
    {
        var body = await Http.PostOkAsync(_client, "/v1/completions", """{"prompt":"Echo me","max_tokens":4,"temperature":0,"logprobs":3,"echo":true}""");

        var choice = body.GetProperty("choices")[0];
        Assert.StartsWith("Echo me", choice.GetProperty("text").GetString(), StringComparison.Ordinal);
        var logprobs = choice.GetProperty("logprobs");
        var count = body.GetProperty("usage").GetProperty("completion_tokens").GetInt32();
        Assert.Equal(count, logprobs.GetProperty("tokens").GetArrayLength());
        Assert.Equal(count, logprobs.GetProperty("token_logprobs").GetArrayLength());
        Assert.All(logprobs.GetProperty("token_logprobs").EnumerateArray(), lp => Assert.True(lp.GetSingle() <= 0));
        Assert.All(logprobs.GetProperty("top_logprobs").EnumerateArray(), top => Assert.InRange(top.EnumerateObject().Count(), 1, 3));
        Assert.Equal("Echo me".Length, logprobs.GetProperty("text_offset")[0].GetInt32());
    }

    [Fact]
    public async Task Completions_TokenIdPrompt_Accepted()
    {
        var body = await Http.PostOkAsync(_client, "/v1/completions", """{"prompt":[72,105,33],"max_tokens":3,"temperature":0}""");
        Assert.Equal(3, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task Completions_64Concurrent_AllMatchTheirSequentialAnswers()
    {
        var prompts = Enumerable.Range(0, 64).Select(i => $"Request number {i} says").ToArray();
        static string Body(string p) => $$"""{"prompt":"{{p}}","max_tokens":8,"temperature":0}""";

        // Sequential references for a sample, then all 64 at once.
        var sample = new[] { 0, 17, 42, 63 };
        var expected = new Dictionary<int, string>();
        foreach (var i in sample)
        {
            expected[i] = Http.CompletionText(await Http.PostOkAsync(_client, "/v1/completions", Body(prompts[i])));
        }

        var results = await Task.WhenAll(prompts.Select(p => Http.PostAsync(_client, "/v1/completions", Body(p))));

        Assert.All(results, r => Assert.Equal(HttpStatusCode.OK, r.Status));
        Assert.Equal(64, results.Select(r => r.Body.GetProperty("id").GetString()).Distinct().Count());
        for (var i = 0; i < 64; i++)
        {
            var usage = results[i].Body.GetProperty("usage");
            Assert.Equal(prompts[i].Length, usage.GetProperty("prompt_tokens").GetInt32());
            Assert.InRange(usage.GetProperty("completion_tokens").GetInt32(), 0, 8);
        }

        foreach (var i in sample)
        {
            Assert.Equal(expected[i], Http.CompletionText(results[i].Body));
        }
    }

    [Fact]
    public async Task Metrics_AfterRequests_ArePresentAndMoving()
    {
        var before = await _client.GetStringAsync("/metrics");
        await Http.PostOkAsync(_client, "/v1/completions", """{"prompt":"Count me","max_tokens":5,"temperature":0}""");
        var after = await _client.GetStringAsync("/metrics");

        string[] names =
        [
            "moeserve_expert_tokens_total", "moeserve_batch_max_violation_bucket", "moeserve_expert_batch_tokens_bucket",
            "moeserve_worker_makespan_seconds_bucket", "moeserve_router_bias", "moeserve_requests_running", "moeserve_requests_waiting",
            "moeserve_prompt_tokens_total", "moeserve_generation_tokens_total", "moeserve_time_to_first_token_seconds_bucket",
            "moeserve_inter_token_latency_seconds_bucket", "moeserve_e2e_request_latency_seconds_bucket", "moeserve_request_queue_time_seconds_bucket",
            "moeserve_requests_finished_total", "moeserve_http_requests_total", "moeserve_execution_provider_info", "moeserve_expert_fallbacks_total",
            "moeserve_kv_caches_live", "moeserve_ready",
        ];
        Assert.All(names, n => Assert.Contains(n, after, StringComparison.Ordinal));
        Assert.True(Http.MetricSum(after, "moeserve_expert_tokens_total") > Http.MetricSum(before, "moeserve_expert_tokens_total"));
        Assert.True(Http.MetricSum(after, "moeserve_prompt_tokens_total") >= Http.MetricSum(before, "moeserve_prompt_tokens_total") + 8);
        Assert.True(Http.MetricSum(after, "moeserve_batch_max_violation_count") > Http.MetricSum(before, "moeserve_batch_max_violation_count"));
        Assert.Contains("moeserve_expert_tokens_total{layer=\"1\",expert=\"3\"}", after, StringComparison.Ordinal);
        Assert.Contains("moeserve_execution_provider_info{device=\"0\",provider=\"CPUExecutionProvider\",fell_back=\"false\"} 1", after, StringComparison.Ordinal);
        Assert.Equal(1, Http.MetricSum(after, "moeserve_ready"));
        // The trained q of the tiny model is non-zero.
        Assert.True(Http.MetricSum(after, "moeserve_router_bias") > 0);
    }

    [Fact]
    public async Task ModelsAndHealth_Answer()
    {
        var models = JsonDocument.Parse(await _client.GetStringAsync("/v1/models")).RootElement;
        Assert.Equal("list", models.GetProperty("object").GetString());
        Assert.Equal("tiny", models.GetProperty("data")[0].GetProperty("id").GetString());
        var routing = models.GetProperty("data")[0].GetProperty("routing");
        Assert.Equal("trained", routing.GetProperty("policy").GetString());
        Assert.StartsWith("export (", routing.GetProperty("q_source").GetString(), StringComparison.Ordinal);
        Assert.Equal(1.0, routing.GetProperty("q_scale").GetDouble());
        var dashboard = JsonDocument.Parse(await _client.GetStringAsync("/dashboard/data")).RootElement;
        Assert.Equal("trained", dashboard.GetProperty("routing_policy").GetString());
        Assert.StartsWith("trained, q from export (", dashboard.GetProperty("served_q").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync("/v1/models/tiny")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync("/v1/models/other")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync("/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync("/health/ready")).StatusCode);
    }

    [Fact]
    public async Task Dashboard_DataAfterRequests_HasExpertLoadAndHistory()
    {
        await Http.PostOkAsync(_client, "/v1/completions", """{"prompt":"Dashboard","max_tokens":4,"temperature":0}""");
        var page = await _client.GetStringAsync("/");
        Assert.Contains("dashboard/data", page, StringComparison.Ordinal);
        var data = JsonDocument.Parse(await _client.GetStringAsync("/dashboard/data")).RootElement;
        Assert.Equal(2, data.GetProperty("layers").GetInt32());
        Assert.Equal(4, data.GetProperty("experts").GetInt32());
        Assert.True(data.GetProperty("expert_load_total")[0].EnumerateArray().Sum(v => v.GetInt64()) > 0);
        Assert.True(data.GetProperty("history").GetArrayLength() > 0);
    }
}
