using System.Text;
using Microsoft.Extensions.Logging;
using MoeServe.Server.Api;
using MoeServe.Server.Tests.Support;
using Xunit.Abstractions;

namespace MoeServe.Server.Tests.Integration;

/// <summary>A client that declares a body and hangs up before sending all of it is the client's fault: no error log, no stack trace.</summary>
public sealed class TruncatedBodyTests(LoggedKestrelServer server, ITestOutputHelper output) : IClassFixture<LoggedKestrelServer>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    public static TheoryData<string, Hangup> Cuts => new()
    {
        { "content-length", Hangup.HalfClose },
        { "content-length", Hangup.Close },
        { "content-length", Hangup.Reset },
        { "chunked", Hangup.HalfClose },
        { "chunked", Hangup.Close },
        { "chunked", Hangup.Reset },
    };

    [Theory]
    [MemberData(nameof(Cuts))]
    public async Task Post_BodyCutMidway_LogsAtDebugWithoutException(string framing, Hangup hangup)
    {
        var before = server.Logs.Entries.Count;
        var json = Encoding.UTF8.GetBytes("""{"prompt":"this body stops before it ends, and the client hangs up","max_tokens":2}""");
        var (head, body) = framing == "chunked"
            ? ("POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked",
               [.. Encoding.ASCII.GetBytes("64\r\n"), .. json[..40]]) // a chunk of 0x64 = 100 bytes, 40 sent
            : ("POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 500",
               json[..60]);

        var answer = await RawHttp.SendAndHangUpAsync(server.Factory.Port, head, body, hangup, Timeout);

        output.WriteLine(answer.Length == 0 ? "(no answer)" : answer.Split('\r')[0]);
        if (answer.Length > 0)
        {
            // A client that still listens may be told what was wrong (or the server just closes: it cannot finish the request).
            Assert.StartsWith("HTTP/1.1 400", answer, StringComparison.Ordinal);
            Assert.Contains("\"type\":\"invalid_request_error\"", answer, StringComparison.Ordinal);
        }

        Assert.True(
            await server.Logs.WaitForAsync(e => e.Category == RequestBodyReader.LogCategory, Timeout),
            "The body-read failure was not logged by the reader: " + Describe(server.Logs.Entries.Skip(before)));
        var loud = server.Logs.Entries.Skip(before).Where(e => e.Level >= LogLevel.Warning).ToList();
        Assert.True(loud.Count == 0, "Logged at Warning or above: " + Describe(loud));
        Assert.All(server.Logs.Entries.Skip(before).Where(e => e.Category == RequestBodyReader.LogCategory), e =>
        {
            Assert.Equal(LogLevel.Debug, e.Level);
            Assert.Null(e.Exception);
        });

        await Http.PostOkAsync(server.Client, "/v1/completions", """{"prompt":"still serving","max_tokens":2}""");
    }

    private static string Describe(IEnumerable<CapturedLog> entries) =>
        string.Join(" | ", entries.Select(e => $"{e.Level} {e.Category}: {e.Message} {e.Exception?.GetType().Name}"));

    [Fact]
    public async Task Post_BodyResetMidway_ManyTimes_NeverLogsAnError()
    {
        // A reset can reach the body reader before Kestrel marks the request aborted: repeat to hit that window.
        var before = server.Logs.Entries.Count;
        for (var i = 0; i < 40; i++)
        {
            var chunked = i % 2 == 0;
            var head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + (chunked ? "Transfer-Encoding: chunked" : "Content-Length: 900");
            byte[] body = chunked ? [.. "c8\r\n{\"messages\":[{\"role\":\"user\""u8] : [.. "{\"messages\":[{\"role\":\"user\""u8];
            await RawHttp.SendAndHangUpAsync(server.Factory.Port, head, body, Hangup.Reset, Timeout, TimeSpan.FromMilliseconds(20));
        }

        // Usually the reader sees all 40; on a loaded machine Kestrel can take a reset before the request
        // reaches the endpoint, and then there is nothing to read. Most must have gone through the reader,
        // so the path under test was taken; none of them may log loudly.
        int Read() => server.Logs.Entries.Skip(before).Count(e => e.Category == RequestBodyReader.LogCategory);
        await server.Logs.WaitForAsync(_ => Read() >= 40, Timeout);
        Assert.True(Read() >= 30, $"Only {Read()} of 40 cut bodies reached the reader: " + Describe(server.Logs.Entries.Skip(before)));
        var loud = server.Logs.Entries.Skip(before).Where(e => e.Level >= LogLevel.Warning).ToList();
        Assert.True(loud.Count == 0, "Logged at Warning or above: " + Describe(loud));
        await Http.PostOkAsync(server.Client, "/v1/chat/completions", """{"messages":[{"role":"user","content":"still serving"}],"max_tokens":2}""");
    }
}
