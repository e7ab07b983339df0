using System.Net;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MoeServe.Server.Scheduling;
using MoeServe.Server.Tests.Support;

namespace MoeServe.Server.Tests.Integration;

public sealed class CancellationAndResilienceTests
{
    [Fact]
    public async Task Streams_100AbortedMidway_LeaveNoLiveKvCache()
    {
        // Real sockets, so an abort is a closed connection as a client would cause.
        await using var factory = new ServerFactory(kestrel: true);
        (await factory.CreateReadyClientAsync()).Dispose();

        // No response draining: disposing an unfinished response closes the connection, as a client crash would.
        using var client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = factory.BaseAddress };
        var before = Http.MetricSum(await client.GetStringAsync("/metrics"), "moeserve_requests_finished_total");

        var aborted = 0;
        for (var round = 0; round < 10; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, 10).Select(async i =>
            {
                using var cts = new CancellationTokenSource();
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
                {
                    Content = new StringContent($$"""{"prompt":"abort {{round}} {{i}}","max_tokens":400,"stream":true}""", Encoding.UTF8, "application/json"),
                };
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                using var stream = await response.Content.ReadAsStreamAsync(cts.Token);
                var buffer = new byte[64];
                Assert.True(await stream.ReadAsync(buffer, cts.Token) > 0);
                await cts.CancelAsync(); // hang up mid-stream
                Interlocked.Increment(ref aborted);
            }));
        }

        Assert.Equal(100, aborted);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (factory.Model.LiveCacheCount != 0 || factory.Scheduler.RunningCount != 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{factory.Model.LiveCacheCount} KV caches still alive");
            await Task.Delay(20);
        }

        var metrics = await client.GetStringAsync("/metrics");
        Assert.Equal(0, Http.MetricSum(metrics, "moeserve_kv_caches_live"));
        Assert.Equal(before + 100, Http.MetricSum(metrics, "moeserve_requests_finished_total"));
        // Most streams were cut long before 400 tokens (the generation counter shows far fewer than 100 x 400).
        Assert.True(Http.MetricSum(metrics, "moeserve_generation_tokens_total") < 100 * 400 / 2);
        Assert.Contains("moeserve_requests_finished_total{finish_reason=\"cancelled\"}", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExpertDeviceFailing_RequestsStillSucceed_FallbacksCountedAndReady()
    {
        await using var factory = new ServerFactory();
        using var client = await factory.CreateReadyClientAsync();
        var greedy = """{"prompt":"resilient","max_tokens":6,"temperature":0}""";
        var healthy = Http.CompletionText(await Http.PostOkAsync(client, "/v1/completions", greedy));

        factory.Gate.Throwing = true;
        var degraded = await Http.PostOkAsync(client, "/v1/completions", greedy);
        factory.Gate.Throwing = false;

        // Same model, same weights on the CPU fallback: the same greedy answer, nothing lost.
        Assert.Equal(healthy, Http.CompletionText(degraded));
        var metrics = await client.GetStringAsync("/metrics");
        Assert.True(Http.MetricSum(metrics, "moeserve_expert_fallbacks_total") > 0);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready")).StatusCode);
    }

    [Fact]
    public async Task EngineStepFails_500CarriesTheTraceIdTheLogHolds()
    {
        var logs = new CapturingLoggerProvider();
        await using var factory = new ServerFactory();
        await using var logged = factory.WithWebHostBuilder(b => b.ConfigureLogging(l => l.AddProvider(logs)));
        using var client = logged.CreateClient();
        var scheduler = logged.Services.GetRequiredService<BatchScheduler>();
        await Http.PostOkAsync(client, "/v1/completions", """{"prompt":"fine","max_tokens":2}""");

        factory.Gate.Crashing = true;
        var (status, body) = await Http.PostAsync(client, "/v1/completions", """{"prompt":"crash","max_tokens":4}""");
        factory.Gate.Crashing = false;

        Assert.Equal(HttpStatusCode.InternalServerError, status);
        var error = Http.AssertError(body);
        Assert.Equal("internal_error", error.GetProperty("code").GetString());
        var message = error.GetProperty("message").GetString()!;
        var traceId = message[(message.IndexOf("trace ", StringComparison.Ordinal) + "trace ".Length)..message.IndexOf(')', StringComparison.Ordinal)];
        Assert.NotEmpty(traceId);
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Error && e.Message.Contains(traceId, StringComparison.Ordinal) && e.Exception is InvalidOperationException);
        Assert.Equal(0, scheduler.RunningCount);
    }
}
