using System.Net;
using System.Net.Sockets;
using MoeServe.Server.Tests.Support;
using Xunit.Abstractions;

namespace MoeServe.Server.Tests.Integration;

public sealed class StartupTests(ITestOutputHelper output)
{
    private static string ServerDll => Path.Combine(AppContext.BaseDirectory, "MoeServe.Server.dll");

    public static TheoryData<string> BrokenModels => ["truncated manifest", "missing expert", "random-bytes expert"];

    [Theory]
    [MemberData(nameof(BrokenModels))]
    public async Task Server_BrokenModelDirectory_ExitsBeforeListening_WithOneClearLine(string damage)
    {
        var dir = Directory.CreateTempSubdirectory("moeserve-broken-").FullName;
        try
        {
            var model = Path.Combine(dir, "model");
            CopyDirectory(TinyServerModel.Path, model);
            var expert = Path.Combine(model, "layer1.expert2.onnx");
            Assert.True(File.Exists(expert), "the tiny model has no " + expert);
            var expected = damage switch
            {
                "truncated manifest" => Truncate(Path.Combine(model, "manifest.json")),
                "missing expert" => Delete(expert),
                _ => Scramble(expert),
            };

            var (exit, text) = await RunServerAsync(dir, "--model", model, "--port", FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture));

            Assert.Equal(3, exit);
            AssertOneClearLastLine(text, "moeserve: the model could not be loaded from " + model);
            Assert.Contains(expected, LastLine(text), StringComparison.Ordinal);
            Assert.DoesNotContain("Now listening", text, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Server_PortInUse_ExitsWithCode2AndOneClearLine()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;
        var dir = Directory.CreateTempSubdirectory("moeserve-busy-").FullName;
        try
        {
            var (exit, text) = await RunServerAsync(dir, "--model", TinyServerModel.Path, "--urls", $"http://127.0.0.1:{port}");

            Assert.Equal(2, exit);
            AssertOneClearLastLine(text, "moeserve: cannot listen");
            Assert.Contains("address already in use", LastLine(text), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Server_UnknownSwitchOrStrayArgument_IsAConfigurationErrorListingTheKnownOnes()
    {
        var (exit, text) = await RunServerAsync(Path.GetTempPath(), "--model", TinyServerModel.Path, "--bogus", "3", "stray");

        Assert.Equal(2, exit);
        Assert.Contains("2 configuration error(s)", text, StringComparison.Ordinal);
        Assert.Contains("'--bogus': unknown switch; known switches are --model", text, StringComparison.Ordinal);
        Assert.Contains("'stray': unexpected argument", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Now listening", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_ContextBeyondTheModels_IsAnErrorNotAClamp()
    {
        var (exit, text) = await RunServerAsync(Path.GetTempPath(), "--model", TinyServerModel.Path, "--context", "100000", "--port", FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture));

        Assert.Equal(2, exit);
        AssertOneClearLastLine(text, "moeserve: MoeServe:ContextLength (--context) is 100000");
        Assert.Contains($"context length of {TinyServerModel.ContextLength}", LastLine(text), StringComparison.Ordinal);
    }

    private async Task<(int Exit, string Output)> RunServerAsync(string workingDirectory, params string[] args)
    {
        using var process = new ExternalProcess("dotnet", [ServerDll, .. args], workingDirectory);
        var started = System.Diagnostics.Stopwatch.StartNew();
        var exit = await process.WaitAsync(TimeSpan.FromSeconds(60));
        output.WriteLine($"exit {exit} after {started.Elapsed.TotalSeconds:0.00} s:\n{process.Output}");
        return (exit, process.Output);
    }

    private static void AssertOneClearLastLine(string text, string expectedStart)
    {
        Assert.StartsWith(expectedStart, LastLine(text), StringComparison.Ordinal);
        // No stack trace anywhere: the reason is the last line, not buried above it.
        Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
        Assert.DoesNotContain("crit:", text, StringComparison.Ordinal);
        Assert.DoesNotContain("fail:", text, StringComparison.Ordinal);
    }

    private static string LastLine(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[^1];

    private static string Truncate(string file)
    {
        var text = File.ReadAllText(file);
        File.WriteAllText(file, text[..(text.Length / 3)]);
        return "manifest.json is not a valid model manifest";
    }

    private static string Delete(string file)
    {
        File.Delete(file);
        return "missing file: " + file;
    }

    private static string Scramble(string file)
    {
        var bytes = new byte[new FileInfo(file).Length];
        new Random(7).NextBytes(bytes);
        File.WriteAllBytes(file, bytes);
        return Path.GetFileName(file);
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

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
