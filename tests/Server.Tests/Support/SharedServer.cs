namespace MoeServe.Server.Tests.Support;

/// <summary>One in-memory server shared by the tests of a class.</summary>
public sealed class SharedServer : IAsyncLifetime
{
    public ServerFactory Factory { get; } = new();

    public HttpClient Client { get; private set; } = null!;

    public async Task InitializeAsync() => Client = await Factory.CreateReadyClientAsync();

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Factory.DisposeAsync();
    }
}
