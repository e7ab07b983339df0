using MoeServe.Server.Api;

namespace MoeServe.Server.Tests.Support;

/// <summary>Real Kestrel with every log entry captured, so a test can assert what a hostile client makes the server log.</summary>
public sealed class LoggedKestrelServer : IAsyncLifetime
{
    public LoggedKestrelServer() =>
        Factory = new ServerFactory(new() { ["Logging:LogLevel:" + RequestBodyReader.LogCategory] = "Debug" }, kestrel: true, logs: Logs);

    public CapturingLoggerProvider Logs { get; } = new();

    public ServerFactory Factory { get; }

    public HttpClient Client { get; private set; } = null!;

    public async Task InitializeAsync() => Client = await Factory.CreateReadyClientAsync();

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Factory.DisposeAsync();
    }
}
