using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using MoeServe.Server.Tests.Support;
using Xunit.Abstractions;

namespace MoeServe.Server.Tests.Integration;

/// <summary>
/// Thousands of seeded hostile requests against the real pipeline (Kestrel, the tiny model): none may get a
/// 5xx, hang, or log an error, and the server must answer a normal request the same way afterwards.
/// Set MOESERVE_FUZZ_URL (e.g. http://127.0.0.1:8123) to fuzz a running server process instead;
/// MOESERVE_FUZZ_COUNT and MOESERVE_FUZZ_SEED change the number of requests and the seed.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    // Why a connection closed without an answer, printed with the histogram.
    private static readonly ConcurrentQueue<string> Notes = new();

    [Fact]
    public async Task Fuzz_HostileRequests_NoServerErrorNoHangAndStillServing()
    {
        var count = int.Parse(Environment.GetEnvironmentVariable("MOESERVE_FUZZ_COUNT") ?? "2000", CultureInfo.InvariantCulture);
        var seed = int.Parse(Environment.GetEnvironmentVariable("MOESERVE_FUZZ_SEED") ?? "20250112", CultureInfo.InvariantCulture);
        var external = Environment.GetEnvironmentVariable("MOESERVE_FUZZ_URL");

        var logs = new CapturingLoggerProvider();
        await using var factory = external is null ? new ServerFactory(kestrel: true, logs: logs) : null;
        var baseAddress = factory?.BaseAddress ?? new Uri(external!);
        if (factory is not null)
        {
            (await factory.CreateReadyClientAsync()).Dispose();
        }

        // No automatic retries or redirects: every answer is the server's own.
        using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, MaxResponseDrainSize = 0 }) { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan };
        var greedy = """{"prompt":"In the beginning","max_tokens":8,"temperature":0}""";
        var reference = await Http.PostOkAsync(client, "/v1/completions", greedy);

        var generator = new HostileRequests(seed, ServerDefaultsBodyLimit);
        var cases = Enumerable.Range(0, count).Select(_ => generator.Next()).ToList();
        var outcomes = new ConcurrentBag<(FuzzCase Case, string Outcome, double Seconds)>();
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(cases, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (c, _) =>
        {
            var started = Stopwatch.GetTimestamp();
            var outcome = await SendAsync(client, baseAddress, c);
            outcomes.Add((c, outcome, Stopwatch.GetElapsedTime(started).TotalSeconds));
        });
        clock.Stop();

        PrintHistogram(outcomes, clock.Elapsed);
        foreach (var note in Notes.Take(10))
        {
            output.WriteLine("connection closed: " + note);
        }

        var loud = logs.Entries.Where(e => e.Level >= LogLevel.Error || (e.Level >= LogLevel.Warning && e.Exception is not null)).ToList();
        foreach (var entry in loud.Take(3))
        {
            output.WriteLine($"{entry.Level} {entry.Category}: {entry.Message} {entry.Exception}");
        }

        Assert.Equal(count, outcomes.Count);
        var failures = outcomes.Where(o => !Acceptable(o.Case, o.Outcome)).ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} unacceptable answers, first: " + string.Join(" | ", failures.Take(5).Select(f => $"{f.Outcome} for {f.Case.Kind} {f.Case.Method} {f.Case.Path} {Preview(f.Case.Body)}")));

        await AssertIdleAsync(client);
        var after = await Http.PostOkAsync(client, "/v1/completions", greedy);
        Assert.Equal(Http.CompletionText(reference), Http.CompletionText(after));
        Assert.Equal(reference.GetProperty("usage").GetRawText(), after.GetProperty("usage").GetRawText());

        if (factory is not null)
        {
            Assert.True(loud.Count == 0, "Logged: " + string.Join(" | ", loud.Take(5).Select(e => $"{e.Level} {e.Category}: {e.Message} {e.Exception?.GetType().Name}")));
        }
    }

    // MaxRequestBodyBytes's default (1 MiB); the external server is assumed to run with it too.
    private const long ServerDefaultsBodyLimit = 1 << 20;

    private static bool Acceptable(FuzzCase c, string outcome) => outcome switch
    {
        "timeout" => false,
        "bad-error-body" => false,
        // A client still sending an oversized body may see the connection closed under it after the 413.
        "connection-closed" => c.Kind is "huge-over",
        "cut" => true,
        _ => int.Parse(outcome, CultureInfo.InvariantCulture) < 500,
    };

    private static async Task<string> SendAsync(HttpClient client, Uri baseAddress, FuzzCase c)
    {
        using var cts = new CancellationTokenSource(Deadline);
        try
        {
            if (c.Cut is { } cut)
            {
                var body = c.Body!;
                var head = $"POST {c.Path} HTTP/1.1\r\nHost: {baseAddress.Authority}\r\nConnection: close\r\nContent-Type: application/json\r\n"
                    + (c.Chunked ? "Transfer-Encoding: chunked" : $"Content-Length: {body.Length}");
                var sent = c.Chunked ? [.. Encoding.ASCII.GetBytes(body.Length.ToString("x", CultureInfo.InvariantCulture) + "\r\n"), .. body[..cut]] : body[..cut];
                var answer = await RawHttp.SendAndHangUpAsync(baseAddress.Port, head, sent, c.Hangup, Deadline);
                return answer.StartsWith("HTTP/1.1 5", StringComparison.Ordinal) ? answer[9..12] : "cut";
            }

            using var request = new HttpRequestMessage(new HttpMethod(c.Method), c.Path);

            // One connection per request, as separate hostile clients would be: a pooled connection the server
            // closed after an answer (413 with an unread body) would otherwise fail the next request on it.
            request.Headers.ConnectionClose = true;
            if (c.Body is not null)
            {
                request.Content = new ByteArrayContent(c.Body);
                if (c.ContentType is not null)
                {
                    request.Content.Headers.TryAddWithoutValidation("Content-Type", c.ContentType);
                }

                if (c.Chunked)
                {
                    request.Headers.TransferEncodingChunked = true;
                }
            }

            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead, cts.Token);
            var status = (int)response.StatusCode;
            // HEAD answers carry the headers of the error but no body.
            if (status is >= 400 and < 500 && c.Method != "HEAD" && response.Content.Headers.ContentType?.MediaType == "application/json" && !IsErrorBody(await response.Content.ReadAsByteArrayAsync(cts.Token)))
            {
                return "bad-error-body";
            }

            return status.ToString(CultureInfo.InvariantCulture);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            return "timeout";
        }
        catch (HttpRequestException e)
        {
            Notes.Enqueue($"{c.Kind} {c.Method} {c.Path} ({c.Body?.Length ?? 0} bytes{(c.Chunked ? ", chunked" : "")}): {e.Message} {e.InnerException?.Message}");
            return "connection-closed";
        }
    }

    private static bool IsErrorBody(byte[] body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.TryGetProperty("error", out var error)
                && error.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String
                && error.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static async Task AssertIdleAsync(HttpClient client)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var metrics = await client.GetStringAsync("/metrics");
            var busy = new[] { "moeserve_requests_running", "moeserve_requests_waiting", "moeserve_kv_caches_live" }
                .Select(name => (name, value: Http.MetricSum(metrics, name))).Where(m => m.value != 0).ToList();
            if (busy.Count == 0)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, "Still busy after the fuzz: " + string.Join(", ", busy.Select(b => $"{b.name}={b.value}")));
            await Task.Delay(50);
        }
    }

    private void PrintHistogram(ConcurrentBag<(FuzzCase Case, string Outcome, double Seconds)> outcomes, TimeSpan elapsed)
    {
        output.WriteLine($"{outcomes.Count} requests in {elapsed.TotalSeconds:0.0} s; slowest {outcomes.Max(o => o.Seconds):0.000} s");
        output.WriteLine("by outcome: " + string.Join(", ", outcomes.GroupBy(o => o.Outcome).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key}: {g.Count()}")));
        foreach (var kind in outcomes.GroupBy(o => o.Case.Kind).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"  {kind.Key,-18} " + string.Join(", ", kind.GroupBy(o => o.Outcome).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key}: {g.Count()}")));
        }
    }

    private static string Preview(byte[]? body) => body is null ? "" : Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 160));
}
