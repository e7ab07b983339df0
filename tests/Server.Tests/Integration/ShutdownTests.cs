using System.Net;
using System.Text;
using System.Text.Json;
using MoeServe.Server.Health;
using MoeServe.Server.Tests.Support;
using Xunit.Abstractions;

namespace MoeServe.Server.Tests.Integration;

/// <summary>Shutdown with more work in flight than the drain window can finish: every client gets an answer, none a reset.</summary>
public sealed class ShutdownTests(ITestOutputHelper output)
{
    private const int Running = 32;
    private const int Waiting = 64;

    [Fact]
    public async Task Shutdown_MoreWorkThanTheDrainWindow_EveryClientAnswered_NoReset_ReadinessIs503()
    {
        // Real Kestrel: TestServer aborts in-flight requests on dispose instead of draining them.
        var factory = new ServerFactory(new()
        {
            ["MoeServe:MaxBatchSequences"] = Running.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["MoeServe:MaxWaitingRequests"] = Waiting.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["MoeServe:DrainTimeoutSeconds"] = "2",
            // Long enough that the probes below land inside it on a loaded CI machine (a 1 s grace once
            // ran out before the late request connected: the listener had closed, as it should).
            ["MoeServe:ShutdownGraceSeconds"] = "4",
            ["MoeServe:RetryAfterSeconds"] = "7",
        }, kestrel: true);
        using var client = await factory.CreateReadyClientAsync();
        using var probe = new HttpClient { BaseAddress = factory.BaseAddress };
        var state = (ServerState)factory.Services.GetService(typeof(ServerState))!;
        var scheduler = factory.Scheduler;

        // Stall the engine until every request is in, then let it crawl so the drain window cuts it.
        factory.Gate.Close();
        var requests = Enumerable.Range(0, Running + Waiting).Select(i => SendAsync(client, stream: i % 2 == 0)).ToArray();
        await WaitUntil(() => factory.Scheduler.RunningCount + factory.Scheduler.WaitingCount == Running + Waiting, "96 admitted requests");
        factory.Gate.DelayMilliseconds = 5;
        factory.Gate.Open();

        await WaitUntil(() => factory.Scheduler.RunningCount == Running, "a full batch");
        var stopping = Task.Run(() => factory.Dispose());
        await WaitUntil(() => state.Phase == ServerPhase.Draining, "draining");
        var signalled = System.Diagnostics.Stopwatch.StartNew();

        // The listener is still open: a load balancer sees the drain, new work is sent elsewhere.
        using (var ready = await probe.GetAsync("/health/ready"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Contains("draining", await ready.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var content = new StringContent("""{"prompt":"late","max_tokens":2}""", Encoding.UTF8, "application/json"))
        using (var late = await probe.PostAsync("/v1/completions", content))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, late.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(7), late.Headers.RetryAfter?.Delta);
        }

        output.WriteLine($"probes answered {signalled.ElapsedMilliseconds} ms after the drain began");

        var outcomes = await Task.WhenAll(requests);
        await stopping;
        var histogram = outcomes.GroupBy(o => o).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key}: {g.Count()}");
        output.WriteLine(string.Join(", ", histogram));

        Assert.DoesNotContain(outcomes, o => o.StartsWith("reset", StringComparison.Ordinal));
        Assert.All(outcomes, o => Assert.True(o is "finished" or "cut: 503" or "cut: error event", o));
        // The window was too short for all of it, so the cut path was taken, for running and queued requests.
        Assert.Contains("cut: error event", outcomes);
        Assert.Contains("cut: 503", outcomes);
        Assert.Equal(0, scheduler.RunningCount + scheduler.WaitingCount);
    }

    // "finished", "cut: 503", "cut: error event", or "reset: ..." when the connection broke.
    private static async Task<string> SendAsync(HttpClient client, bool stream)
    {
        var json = $$"""{"prompt":"drain me","max_tokens":400,"temperature":0,"stream":{{(stream ? "true" : "false")}}}""";
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
            {
                using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                Assert.Equal("service_unavailable", body.RootElement.GetProperty("error").GetProperty("code").GetString());
                Assert.NotNull(response.Headers.RetryAfter);
                return "cut: 503";
            }

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            if (!stream)
            {
                using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                Assert.NotNull(body.RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
                return "finished";
            }

            var events = await Sse.ReadAllAsync(response);
            var last = Sse.Json(events)[^1];
            if (last.TryGetProperty("error", out var error))
            {
                Assert.Equal("service_unavailable", error.GetProperty("code").GetString());
                return "cut: error event";
            }

            Assert.NotNull(last.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
            return "finished";
        }
        catch (HttpRequestException e)
        {
            return "reset: " + e.Message;
        }
        catch (IOException e)
        {
            return "reset: " + e.Message;
        }
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "Timed out waiting for " + what);
            await Task.Delay(10);
        }
    }
}
