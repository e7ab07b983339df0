using MoeServe.Server.Tests.Support;

namespace MoeServe.Server.Tests.Integration;

public sealed class StartupTests
{
    private static string ServerDll => Path.Combine(AppContext.BaseDirectory, "MoeServe.Server.dll");

    [Fact]
    public async Task Server_InvalidOptions_ExitsNonZeroListingEveryError()
    {
        var dir = Directory.CreateTempSubdirectory("moeserve-start-").FullName;
        try
        {
            using var process = new ExternalProcess("dotnet", [ServerDll, "--model", Path.Combine(dir, "nothing-here"), "--MoeServe:Workers=0", "--routing", "fastest", "--port", "99999"], dir);
            var exit = await process.WaitAsync(TimeSpan.FromSeconds(60));

            Assert.Equal(2, exit);
            var output = process.Output;
            Assert.Contains("4 configuration error(s)", output, StringComparison.Ordinal);
            Assert.Contains(Path.Combine(dir, "nothing-here"), output, StringComparison.Ordinal);
            Assert.Contains("MoeServe:Workers", output, StringComparison.Ordinal);
            Assert.Contains("'fastest'", output, StringComparison.Ordinal);
            Assert.Contains("MoeServe:Port", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Server_ValidModel_ServesOnTheGivenPortThenStops()
    {
        var dir = Directory.CreateTempSubdirectory("moeserve-start-").FullName;
        try
        {
            using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            listener.Start();
            var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            using var process = new ExternalProcess("dotnet", [ServerDll, "--model", TinyServerModel.Path, "--urls", $"http://127.0.0.1:{port}"], dir);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };

            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                Assert.False(process.HasExited, "the server exited:\n" + process.Output);
                Assert.True(DateTime.UtcNow < deadline, "never ready:\n" + process.Output);
                try
                {
                    if ((await http.GetAsync("health/ready")).IsSuccessStatusCode)
                    {
                        break;
                    }
                }
                catch (HttpRequestException)
                {
                }

                await Task.Delay(100);
            }

            var body = await Http.PostOkAsync(http, "/v1/completions", """{"prompt":"hello","max_tokens":3}""");
            Assert.Equal("tiny", body.GetProperty("model").GetString());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
