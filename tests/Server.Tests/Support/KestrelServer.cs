namespace MoeServe.Server.Tests.Support;

/// <summary>One server on real Kestrel (127.0.0.1, a free port) shared by the tests of a class.</summary>
public sealed class KestrelServer : IAsyncLifetime
{
    public ServerFactory Factory { get; } = new(kestrel: true);

    public HttpClient Client { get; private set; } = null!;

    public Uri BaseAddress => Factory.BaseAddress;

    public async Task InitializeAsync() => Client = await Factory.CreateReadyClientAsync();

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Factory.DisposeAsync();
    }
}
