using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
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
        var before = await client.GetStringAsync("/metrics");

        // Each round: the engine is held at the gate, so no token is generated while ten clients read
        // the stream's first event (the echoed prompt, written before any token) and hang up; the gate opens only once
        // the server has seen all ten aborts. Every step is ordered by events, none by time.
        for (var round = 0; round < 10; round++)
        {
            factory.Gate.Close();
            await Task.WhenAll(Enumerable.Range(0, 10).Select(async i =>
            {
                using var cts = new CancellationTokenSource();
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
                {
                    Content = new StringContent($$"""{"prompt":"abort {{round}} {{i}}","max_tokens":400,"stream":true,"echo":true}""", Encoding.UTF8, "application/json"),
                };
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                using var stream = await response.Content.ReadAsStreamAsync(cts.Token);
                var buffer = new byte[64];
                Assert.True(await stream.ReadAsync(buffer, cts.Token) > 0);
                await cts.CancelAsync(); // hang up mid-stream
            }));
            await factory.Aborts.WhenAbortedAsync(10 * (round + 1)).WaitAsync(TimeSpan.FromSeconds(60)); // a bound against hanging, not a timing assumption
            factory.Gate.Open();
        }

        Assert.Equal(100, factory.Aborts.Aborted);

        // The scheduler serves in arrival order and drops cancelled sequences before every step, so once
        // a later request has been answered, every aborted one is gone.
        await Http.PostOkAsync(client, "/v1/completions", """{"prompt":"after the aborts","max_tokens":1}""");

        // One more request, held at the gate: while its step is stalled, its KV cache is the only one alive.
        factory.Gate.Close();
        var probe = Http.PostOkAsync(client, "/v1/completions", """{"prompt":"probe","max_tokens":1}""");
        await factory.Gate.WhenRunBlockedAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(1, factory.Model.LiveCacheCount);
        Assert.Equal(1, factory.Scheduler.RunningCount);
        factory.Gate.Open();
        await probe;

        var metrics = await client.GetStringAsync("/metrics");
        Assert.Equal(102, Http.MetricSum(metrics, "moeserve_requests_finished_total") - Http.MetricSum(before, "moeserve_requests_finished_total"));
        Assert.Contains("moeserve_requests_finished_total{finish_reason=\"cancelled\"} 100", metrics, StringComparison.Ordinal);
        // The engine was held until each abort was seen: an aborted stream got at most the one token of
        // the step it was stalled in; the two later requests one each.
        double generated = Http.MetricSum(metrics, "moeserve_generation_tokens_total") - Http.MetricSum(before, "moeserve_generation_tokens_total");
        Assert.InRange(generated, 2, 100 + 2);
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
        await using var factory = new ServerFactory(logs: logs);
        using var client = await factory.CreateReadyClientAsync();
        var scheduler = factory.Scheduler;
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
