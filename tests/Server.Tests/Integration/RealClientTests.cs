using System.ClientModel;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using MoeServe.Server.Tests.Support;
using MoeServe.TestSupport;
using OpenAI;
using OpenAI.Chat;

namespace MoeServe.Server.Tests.Integration;

/// <summary>Real clients against the server on real Kestrel: the official OpenAI .NET client, Prometheus and headless Chromium.</summary>
public sealed class RealClientTests(KestrelServer server) : IClassFixture<KestrelServer>
{
    private ChatClient Chat() => new("tiny", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(server.BaseAddress, "v1") });

    [Fact]
    public async Task OpenAiClient_CompleteChat_ReturnsAssistantTextAndUsage()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 8, Temperature = 0 };
        ChatCompletion completion = await Chat().CompleteChatAsync([new SystemChatMessage("Be brief."), new UserChatMessage("Hello")], options);

        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Equal("tiny", completion.Model);
        Assert.StartsWith("chatcmpl-", completion.Id, StringComparison.Ordinal);
        Assert.Contains(completion.FinishReason, new[] { ChatFinishReason.Stop, ChatFinishReason.Length });
        Assert.True(completion.Usage.InputTokenCount > 10);
        Assert.InRange(completion.Usage.OutputTokenCount, 0, 8);
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
        if (completion.FinishReason == ChatFinishReason.Length)
        {
            Assert.Equal(8, completion.Usage.OutputTokenCount);
        }
    }

    [Fact]
    public async Task OpenAiClient_Streaming_MatchesNonStreaming()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 10, Temperature = 0 };
        ChatMessage[] messages = [new UserChatMessage("Tell me a story")];
        ChatCompletion whole = await Chat().CompleteChatAsync(messages, options);

        var text = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in Chat().CompleteChatStreamingAsync(messages, options))
        {
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.Equal(whole.Content.Count == 0 ? "" : whole.Content[0].Text, text.ToString());
        Assert.Equal(whole.FinishReason, finish);
        Assert.NotNull(usage); // the client asks for include_usage
        Assert.Equal(whole.Usage.TotalTokenCount, usage.TotalTokenCount);
    }

    [Fact]
    public async Task OpenAiClient_UnknownModel_ThrowsWith404()
    {
        var client = new ChatClient("nope", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(server.BaseAddress, "v1"), RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) });
        var error = await Assert.ThrowsAsync<ClientResultException>(() => client.CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(404, error.Status);
    }

    [Fact]
    [Trait(TestTiers.Name, TestTiers.External)]
    public async Task Prometheus_ScrapesMetrics_ExpertTokensNonZero()
    {
        var prometheus = ExternalProcess.Find("prometheus");
        Assert.True(prometheus is not null, "prometheus is not installed (apt-get install prometheus; tests/run.sh installs it)");
        await Http.PostOkAsync(server.Client, "/v1/completions", """{"prompt":"for prometheus","max_tokens":5}""");

        var dir = Directory.CreateTempSubdirectory("moeserve-prom-").FullName;
        try
        {
            var port = FreePort();
            var config = Path.Combine(dir, "prometheus.yml");
            await File.WriteAllTextAsync(config, $"""
                global:
                  scrape_interval: 1s
                  evaluation_interval: 1s
                scrape_configs:
                  - job_name: moeserve
                    metrics_path: /metrics
                    static_configs:
                      - targets: ["127.0.0.1:{server.Factory.Port}"]
                """);
            using var process = new ExternalProcess(prometheus!, [
                "--config.file=" + config,
                "--storage.tsdb.path=" + Path.Combine(dir, "data"),
                "--web.listen-address=127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture),
            ]);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(5) };

            var deadline = DateTime.UtcNow.AddSeconds(60);
            double value = 0;
            while (value <= 0)
            {
                Assert.True(DateTime.UtcNow < deadline, "Prometheus never reported moeserve_expert_tokens_total > 0. Its log:\n" + process.Output);
                Assert.False(process.HasExited, "Prometheus exited:\n" + process.Output);
                await Task.Delay(500);
                try
                {
                    var json = await http.GetStringAsync("api/v1/query?query=sum(moeserve_expert_tokens_total)");
                    var result = JsonDocument.Parse(json).RootElement.GetProperty("data").GetProperty("result");
                    if (result.GetArrayLength() > 0)
                    {
                        value = double.Parse(result[0].GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture);
                    }
                }
                catch (HttpRequestException)
                {
                    // Not listening yet.
                }
            }

            Assert.True(value > 0);
            var series = await http.GetStringAsync("api/v1/query?query=count(moeserve_expert_tokens_total)");
            // 2 layers x 4 experts of the tiny model: bounded, one series each.
            Assert.Contains("\"8\"", series, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    [Trait(TestTiers.Name, TestTiers.External)]
    public async Task Chromium_DashboardAfterRequests_RendersHeatMapAndCharts()
    {
        var chromium = ExternalProcess.Find("chromium");
        Assert.True(chromium is not null, "chromium is not installed (apt-get install chromium; tests/run.sh installs it)");
        for (var i = 0; i < 4; i++)
        {
            await Http.PostOkAsync(server.Client, "/v1/completions", $$"""{"prompt":"dashboard {{i}}","max_tokens":6}""");
        }

        var dir = Directory.CreateTempSubdirectory("moeserve-chromium-").FullName;
        try
        {
            string[] common =
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--user-data-dir=" + Path.Combine(dir, "profile"), "--virtual-time-budget=5000",
            ];
            var url = server.BaseAddress.ToString();

            using (var dump = new ExternalProcess(chromium!, [.. common, "--dump-dom", url]))
            {
                Assert.Equal(0, await dump.WaitAsync(TimeSpan.FromSeconds(90)));
                var dom = dump.Output;
                Assert.Contains("<table class=\"heat\">", dom, StringComparison.Ordinal);
                Assert.Contains("layer 1", dom, StringComparison.Ordinal);
                Assert.Contains("<circle", dom, StringComparison.Ordinal);
                Assert.Contains("<rect", dom, StringComparison.Ordinal);
                Assert.Contains("updated ", dom, StringComparison.Ordinal);
                Assert.DoesNotContain("No steps yet.", dom, StringComparison.Ordinal);
            }

            var shot = Path.Combine(dir, "dashboard.png");
            using (var screenshot = new ExternalProcess(chromium!, [.. common, "--window-size=1100,1000", "--screenshot=" + shot, url]))
            {
                Assert.Equal(0, await screenshot.WaitAsync(TimeSpan.FromSeconds(90)));
            }

            Assert.True(new FileInfo(shot).Length > 10_000, "the screenshot is (nearly) empty");
            var keep = Environment.GetEnvironmentVariable("MOESERVE_SCREENSHOT");
            if (!string.IsNullOrEmpty(keep))
            {
                File.Copy(shot, keep, overwrite: true);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
