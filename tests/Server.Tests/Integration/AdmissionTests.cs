using System.Net;
using System.Text;
using MoeServe.Server.Health;
using MoeServe.Server.Tests.Support;

namespace MoeServe.Server.Tests.Integration;

public sealed class AdmissionTests
{
    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "Timed out waiting for " + what);
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task Completions_QueueFull_Returns429WithRetryAfter_AndQueuedOnesFinish()
    {
        await using var factory = new ServerFactory(new()
        {
            ["MoeServe:MaxBatchSequences"] = "1",
            ["MoeServe:MaxWaitingRequests"] = "2",
            ["MoeServe:RetryAfterSeconds"] = "3",
        });
        using var client = await factory.CreateReadyClientAsync();

        // Stall the engine so the first request holds the only batch slot.
        factory.Gate.Close();
        var body = """{"prompt":"queue","max_tokens":3,"temperature":0}""";
        var running = Http.PostAsync(client, "/v1/completions", body);
        await WaitUntil(() => factory.Scheduler.RunningCount == 1, "the first request to run");
        var queued = new[] { Http.PostAsync(client, "/v1/completions", body), Http.PostAsync(client, "/v1/completions", body) };
        await WaitUntil(() => factory.Scheduler.WaitingCount == 2, "two waiting requests");

        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var refused = await client.PostAsync("/v1/completions", content);

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(3), refused.Headers.RetryAfter?.Delta);
        var error = Http.AssertError(System.Text.Json.JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement);
        Assert.Equal("server_overloaded", error.GetProperty("code").GetString());
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Equal(2, Http.MetricSum(metrics, "moeserve_requests_waiting"));
        Assert.Equal(1, Http.MetricSum(metrics, "moeserve_requests_running"));

        factory.Gate.Open();
        Assert.Equal(HttpStatusCode.OK, (await running).Status);
        foreach (var q in queued)
        {
            Assert.Equal(HttpStatusCode.OK, (await q).Status);
        }
    }

    [Fact]
    public async Task Completions_AtTheDocumentedCapacity_AcceptsEveryRequest()
    {
        // 32 running + 64 waiting: 96 requests at once must all be taken, however the loop's step
        // boundaries split them between the batch and the queue.
        await using var factory = new ServerFactory(new()
        {
            ["MoeServe:MaxBatchSequences"] = "32",
            ["MoeServe:MaxWaitingRequests"] = "64",
        });
        using var client = await factory.CreateReadyClientAsync();
        factory.Gate.Close();
        var body = """{"prompt":"capacity","max_tokens":2,"temperature":0}""";
        var requests = Enumerable.Range(0, 96).Select(_ => Http.PostAsync(client, "/v1/completions", body)).ToArray();
        await WaitUntil(() => factory.Scheduler.RunningCount + factory.Scheduler.WaitingCount == 96 || requests.Any(r => r.IsCompleted), "96 admitted requests");
        Assert.DoesNotContain(requests, r => r.IsCompleted);

        using (var content = new StringContent(body, Encoding.UTF8, "application/json"))
        using (var refused = await client.PostAsync("/v1/completions", content))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        }

        factory.Gate.Open();
        var statuses = (await Task.WhenAll(requests)).Select(r => r.Status).ToArray();
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
    }

    [Fact]
    public async Task Completions_QueuedClientGivesUp_FreesItsQueuePlaceAtOnce()
    {
        await using var factory = new ServerFactory(new()
        {
            ["MoeServe:MaxBatchSequences"] = "1",
            ["MoeServe:MaxWaitingRequests"] = "1",
        });
        using var client = await factory.CreateReadyClientAsync();
        factory.Gate.Close();
        var body = """{"prompt":"queue","max_tokens":2,"temperature":0}""";
        var running = Http.PostAsync(client, "/v1/completions", body);
        await WaitUntil(() => factory.Scheduler.RunningCount == 1, "the first request to run");

        using (var giveUp = new CancellationTokenSource())
        {
            using var content = new StringContent(body, Encoding.UTF8, "application/json");
            var abandoned = client.PostAsync("/v1/completions", content, giveUp.Token);
            await WaitUntil(() => factory.Scheduler.WaitingCount == 1, "the second request to wait");
            await giveUp.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        }

        // The engine is still stalled, so only the cancellation can have freed the place.
        await WaitUntil(() => factory.Scheduler.WaitingCount == 0, "the abandoned request to leave the queue");
        var next = Http.PostAsync(client, "/v1/completions", body);
        await WaitUntil(() => factory.Scheduler.WaitingCount == 1, "the next request to be queued");

        factory.Gate.Open();
        Assert.Equal(HttpStatusCode.OK, (await running).Status);
        Assert.Equal(HttpStatusCode.OK, (await next).Status);
    }

    [Fact]
    public async Task Completions_PastDeadline_Returns504AndFreesTheCache()
    {
        await using var factory = new ServerFactory(new() { ["MoeServe:RequestTimeoutSeconds"] = "0.5" });
        using var client = await factory.CreateReadyClientAsync();

        factory.Gate.Close();
        var pending = Http.PostAsync(client, "/v1/completions", """{"prompt":"slow","max_tokens":3}""");
        var (status, body) = await pending;
        factory.Gate.Open();

        Assert.Equal(HttpStatusCode.GatewayTimeout, status);
        Assert.Equal("timeout", Http.AssertError(body).GetProperty("code").GetString());
        await WaitUntil(() => factory.Model.LiveCacheCount == 0 && factory.Scheduler.RunningCount == 0, "the timed-out job to leave");
    }

    [Fact]
    public async Task Shutdown_WhileRequestRuns_DrainsItAndReportsNotReady()
    {
        // Real Kestrel: TestServer aborts in-flight requests on dispose instead of draining them.
        var factory = new ServerFactory(kestrel: true);
        using var client = await factory.CreateReadyClientAsync();
        var state = (ServerState)factory.Services.GetService(typeof(ServerState))!;

        factory.Gate.Close();
        var running = Http.PostAsync(client, "/v1/completions", """{"prompt":"drain me","max_tokens":5,"temperature":0}""");
        await WaitUntil(() => factory.Scheduler.RunningCount == 1, "the request to run");

        var lifetime = (Microsoft.Extensions.Hosting.IHostApplicationLifetime)factory.Services.GetService(typeof(Microsoft.Extensions.Hosting.IHostApplicationLifetime))!;
        var stopping = Task.Run(() => factory.Dispose());
        await WaitUntil(() => state.Phase == ServerPhase.Draining, "draining");
        Assert.False(state.IsReady);

        var sw = System.Diagnostics.Stopwatch.StartNew();
        factory.Gate.Open();
        (HttpStatusCode status, System.Text.Json.JsonElement body) result;
        try
        {
            result = await running;
        }
        catch (Exception e)
        {
            throw new InvalidOperationException($"after {sw.ElapsedMilliseconds} ms, phase {state.Phase}, stopping done {stopping.IsCompleted}, running {factory.Scheduler.RunningCount}", e);
        }

        var (status, body) = result;
        Assert.Equal(HttpStatusCode.OK, status);
        var finish = body.GetProperty("choices")[0].GetProperty("finish_reason").GetString();
        Assert.True(finish == "stop" || body.GetProperty("usage").GetProperty("completion_tokens").GetInt32() == 5, $"finish {finish}: {body}");
        await stopping;
        Assert.True(lifetime.ApplicationStopped.IsCancellationRequested);
    }
}
