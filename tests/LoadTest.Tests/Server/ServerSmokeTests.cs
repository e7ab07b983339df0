using MoeServe.LoadTest.Tests.Support;
using MoeServe.Model;
using MoeServe.Model.Export;
using MoeServe.TestSupport;

namespace MoeServe.LoadTest.Tests.Server;

/// <summary>
/// The server-side half of the load-test checks: the real server process, serving a tiny
/// random-weight model, answers every request shape in loadtest/requests.json the way the k6
/// scripts expect. loadtest/smoke.mjs runs the k6 scripts' own modules (lib/shapes.js,
/// lib/sse.js) against it, and the metrics scrape script reports expert balance around it.
/// </summary>
[Trait(TestTiers.Name, TestTiers.External)]
public sealed class ServerSmokeTests : IDisposable
{
    private const string ModelName = "tiny-loadtest";
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "moeserve-loadtest-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task Smoke_RealServerOnTinyModel_AnswersEveryShapeTheK6ScriptsSend()
    {
        using var server = await ServerProcess.StartAsync(ExportTinyModel(), ModelName);

        var result = await ExternalProcess.RunAsync("node", ["loadtest/smoke.mjs", "--url", server.BaseUrl, "--model", ModelName, "--max-tokens", "6", "--wait", "120"], Timeout);

        Assert.True(result.ExitCode == 0, $"smoke failed:\n{result.Output}\nserver log:\n{server.Log}");
        Assert.Contains("all request shapes answered", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ScrapeMetrics_AroundSmokeRequests_ReportsTokenSharesForEveryLayer()
    {
        using var server = await StartUsableServerAsync();

        var result = await ExternalProcess.RunAsync(
            "node",
            ["loadtest/scrape-metrics.mjs", "run", "--url", server.BaseUrl, "--json", "--", "node", "loadtest/smoke.mjs", "--url", server.BaseUrl, "--model", ModelName, "--max-tokens", "4", "--wait", "10"],
            Timeout);

        Assert.True(result.ExitCode == 0, $"scrape-metrics run failed:\n{result.Output}");
        var json = result.StandardOutput[result.StandardOutput.IndexOf("{\n", StringComparison.Ordinal)..];
        var report = System.Text.Json.Nodes.JsonNode.Parse(json)!;
        var layers = report["layers"]!.AsArray();
        Assert.Equal(TinyCheckpoint.DefaultConfig.Layers, layers.Count);
        foreach (var layer in layers)
        {
            var shares = layer!["shares"]!.AsArray().Select(s => (double)s!).ToList();
            Assert.Equal(TinyCheckpoint.DefaultConfig.Experts, shares.Count);
            Assert.True((int)layer["total"]! > 0);
            Assert.InRange(shares.Sum(), 0.999999, 1.000001);
            Assert.True((int)layer["steps"]! > 0, "the MaxVio histogram counted no steps");
        }

        // The smoke run sends 8 requests; each reaches a first token.
        Assert.True((int)report["latency"]!["timeToFirstToken"]!["count"]! >= 8);
        Assert.True((double)report["latency"]!["endToEnd"]!["p95"]! > 0);
    }

    [Fact]
    public async Task NodeLoadRunner_RealServerTwoLevels_NoFailuresAndServerBalanceInEachRow()
    {
        using var server = await StartUsableServerAsync();

        var result = await ExternalProcess.RunAsync(
            "node",
            ["loadtest/load.mjs", "--url", server.BaseUrl, "--model", ModelName, "--vus", "1,4", "--duration", "3s", "--max-tokens", "4", "--stream", "--json"],
            Timeout);

        Assert.True(result.ExitCode == 0, $"load.mjs failed:\n{result.Output}\nserver log:\n{server.Log}");
        var levels = System.Text.Json.Nodes.JsonNode.Parse(result.StandardOutput)!["levels"]!.AsArray();
        Assert.Equal(2, levels.Count);
        foreach (var level in levels)
        {
            Assert.True((int)level!["requests"]! > 0);
            Assert.Equal(0, (int)level["failed"]!);
            Assert.True((double)level["generatedTokensPerSecond"]! > 0);
            // A random tiny model may emit only tokens that decode to no text yet (partial UTF-8);
            // then the client sees no first token. When it does see one, it precedes the end. The
            // first-token quantile is over that subset only, so it is bounded by the slowest request,
            // not by the p95 of all of them (which it exceeded in one CI run: 129.4 vs 128.6 ms).
            if (level["firstTokenMs"]!["p95"] is { } firstToken)
            {
                Assert.InRange((double)firstToken, 0.0, (double)level["latencyMs"]!["max"]! + 1);
            }

            Assert.True((double)level["server"]!["averageMaxVio"]! >= 0);
            Assert.True((double)level["server"]!["timeToFirstTokenP95Seconds"]! > 0);
        }
    }

    [Fact]
    public async Task NodeLoadRunner_OpenLoopRate_StartsRequestsAtTheRateAndCountsDrops()
    {
        using var server = await StartUsableServerAsync();

        var result = await ExternalProcess.RunAsync(
            "node",
            ["loadtest/load.mjs", "--url", server.BaseUrl, "--model", ModelName, "--rate", "4", "--duration", "3s", "--max-tokens", "2", "--json"],
            Timeout);

        Assert.True(result.ExitCode == 0, $"load.mjs failed:\n{result.Output}\nserver log:\n{server.Log}");
        var level = System.Text.Json.Nodes.JsonNode.Parse(result.StandardOutput)!["levels"]!.AsArray().Single()!;
        Assert.Equal(4.0, (double)level["rate"]!);
        Assert.Equal(0, (int)level["dropped"]!);
        Assert.Equal(0, (int)level["failed"]!);
        // 3 s at 4 requests per second: starts at 0, 0.25, ..., 2.75 s.
        Assert.Equal(12, (int)level["requests"]!);
    }

    /// <summary>A server on a fresh tiny model that has answered one smoke request.</summary>
    private async Task<ServerProcess> StartUsableServerAsync()
    {
        var server = await ServerProcess.StartAsync(ExportTinyModel(), ModelName);
        var ready = await ExternalProcess.RunAsync("node", ["loadtest/smoke.mjs", "--url", server.BaseUrl, "--model", ModelName, "--max-tokens", "1", "--wait", "120"], Timeout);
        if (ready.ExitCode != 0)
        {
            string log = server.Log;
            server.Dispose();
            Assert.Fail($"server not usable:\n{ready.Output}\nserver log:\n{log}");
        }

        return server;
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    /// <summary>A random-weight tiny model with a context long enough for the committed prompts.</summary>
    private string ExportTinyModel()
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        var model = Path.Combine(_root, "model");
        TinyCheckpoint.CreateRandom(checkpoint, TinyCheckpoint.DefaultConfig with { ContextLength = 1024 }, seed: 1234);
        new CheckpointExporter().Export(new ExportOptions { CheckpointDirectory = checkpoint, OutputDirectory = model, WeightType = TensorDType.Float32, Name = ModelName });
        return model;
    }
}
