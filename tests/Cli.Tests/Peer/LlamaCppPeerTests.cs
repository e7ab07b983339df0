using System.Numerics.Tensors;
using System.Text.Json.Nodes;

using MoeServe.Cli.Tests.Support;
using MoeServe.Model;
using MoeServe.Model.Export;
using MoeServe.Model.Gguf;
using MoeServe.Peer;
using MoeServe.TestSupport;

namespace MoeServe.Cli.Tests.Peer;

/// <summary>
/// The llama.cpp peer runs the same model as MoeServe: the GGUF written from an exported model's
/// graphs gives llama.cpp's logits equal to MoeServe's own forward pass (plain top-K routing, which is
/// what llama.cpp's llama architecture computes), and bench --peer reports both engines per level.
/// </summary>
public sealed class LlamaCppPeerTests(TinyModelDirectory tiny) : IClassFixture<TinyModelDirectory>
{
    [Fact]
    public void Gguf_FromExportedGraphs_LlamaCppLogitsMatchMoeServeForward()
    {
        string root = Path.Combine(Path.GetTempPath(), "moeserve-peer-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            string checkpoint = Path.Combine(root, "checkpoint");
            string model = Path.Combine(root, "model");
            var config = TinyCheckpoint.DefaultConfig with { DModel = 64, Heads = 4, ExpertHidden = 32, Experts = 8, TopK = 2 };
            TinyCheckpoint.CreateRandom(checkpoint, config, seed: 21);
            new CheckpointExporter().Export(new ExportOptions { CheckpointDirectory = checkpoint, OutputDirectory = model, WeightType = TensorDType.Float32, Name = "peer-tiny" });
            string gguf = Path.Combine(root, "model.gguf");
            LlamaGgufExporter.Write(model, gguf, GgmlType.F32);

            var random = new Random(3);
            int[] tokens = Enumerable.Range(0, 24).Select(_ => random.Next(256)).ToArray();
            float[][] expected = StepByStepLogits.Of(model, tokens);
            float[][] actual;
            using (var peer = LlamaCppPeer.Load(gguf, threads: 2))
            {
                Assert.Equal(config.VocabSize, peer.VocabSize);
                actual = peer.Logits(tokens);
            }

            for (int i = 0; i < tokens.Length; i++)
            {
                float scale = TensorPrimitives.MaxMagnitude(expected[i]);
                float[] difference = new float[expected[i].Length];
                TensorPrimitives.Subtract(expected[i], actual[i], difference);
                float error = TensorPrimitives.MaxMagnitude(difference);
                Assert.True(error <= 1e-3f * scale, $"position {i}: max logit difference {error} (logit scale {scale})");
                Assert.Equal(TensorPrimitives.IndexOfMax(expected[i]), TensorPrimitives.IndexOfMax(actual[i]));
            }
        }
        finally
        {
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    [Fact]
    public async Task Bench_WithPeer_ReportsBothEnginesPerLevel()
    {
        var result = await CliProcess.RunAsync(
            "bench", "--model", tiny.Model, "--concurrency", "1,3", "--max-tokens", "6", "--prompt-tokens", "4",
            "--repeat", "1", "--no-routing-compare", "--no-baseline", "--no-peak", "--peer", "llamacpp", "--peer-threads", "2", "--json");

        Assert.True(result.ExitCode == 0, result.Output);
        var report = JsonNode.Parse(result.StandardOutput)!;
        var peer = report["peer"]!;
        Assert.Equal("llamacpp", (string)peer["peer"]!);
        Assert.True(((string)peer["machine"]!["llamaCppSystemInfo"]!).Length > 0, result.StandardOutput);
        var levels = peer["levels"]!.AsArray();
        Assert.Equal([1, 3], levels.Select(l => (int)l!["concurrency"]!));
        foreach (var level in levels)
        {
            double peerRate = (double)level!["peer"]!["decodeTokensPerSecond"]!;
            double own = (double)level["moeServeTokensPerSecond"]!;
            Assert.True(peerRate > 0 && own > 0, result.StandardOutput);
            Assert.InRange((double)level["ratio"]!, own / peerRate * 0.999, own / peerRate * 1.001);
            Assert.Equal(6, (int)level["peer"]!["steps"]!);

            // Prefill (time to the first token of every sequence) of both engines, in milliseconds.
            Assert.True((double)level["moeServePrefillMs"]! > 0, result.StandardOutput);
            Assert.InRange((double)level["peerPrefillMs"]!, (double)level["peer"]!["prefillSeconds"]! * 1000 * 0.999, (double)level["peer"]!["prefillSeconds"]! * 1000 * 1.001);
        }
    }

    [Fact]
    public async Task Bench_WithPeerProcess_RunsThePeerInAChildThatEndsWithBench()
    {
        var result = await CliProcess.RunAsync(
            "bench", "--model", tiny.Model, "--concurrency", "1,2", "--max-tokens", "5", "--prompt-tokens", "4",
            "--repeat", "2", "--no-routing-compare", "--no-baseline", "--no-peak", "--peer", "llamacpp", "--peer-threads", "1", "--peer-process", "--json");

        Assert.True(result.ExitCode == 0, result.Output);
        var peer = JsonNode.Parse(result.StandardOutput)!["peer"]!;
        int child = (int)peer["peerProcessId"]!;
        Assert.True(child > 0, result.StandardOutput);
        Assert.True(((string)peer["machine"]!["llamaCppSystemInfo"]!).Length > 0, result.StandardOutput);
        var levels = peer["levels"]!.AsArray();
        Assert.Equal([1, 2], levels.Select(l => (int)l!["concurrency"]!));
        foreach (var level in levels)
        {
            Assert.Equal(5, (int)level!["peer"]!["steps"]!);
            Assert.True((double)level["peer"]!["decodeTokensPerSecond"]! > 0 && (double)level["moeServeTokensPerSecond"]! > 0, result.StandardOutput);
        }

        // bench stopped its child on the way out.
        bool alive;
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(child);
            alive = !process.HasExited;
        }
        catch (ArgumentException)
        {
            alive = false;
        }

        Assert.False(alive, $"peer process {child} outlived bench");
    }

    [Fact]
    public async Task Bench_PeerProcessWithoutPeer_FailsNamingTheFlag()
    {
        var result = await CliProcess.RunAsync("bench", "--model", tiny.Model, "--peer-process");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--peer-process needs --peer", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("float8")]
    [InlineData("1")] // an enum's number is not a name
    public async Task Bench_UnknownKvCacheType_FailsNamingTheFlag(string value)
    {
        var result = await CliProcess.RunAsync("bench", "--model", tiny.Model, "--kv-cache", value);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"error: --kv-cache must be float16 or float32, got '{value}'.", Assert.Single(result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    [Theory]
    [InlineData("managed")]
    [InlineData("0")]
    public async Task Bench_UnknownKernels_FailsNamingTheFlag(string value)
    {
        var result = await CliProcess.RunAsync("bench", "--model", tiny.Model, "--kernels", value);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"error: --kernels must be auto or onnx, got '{value}'.", Assert.Single(result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    [Fact]
    public async Task Bench_UnknownPeer_FailsNamingTheFlag()
    {
        var result = await CliProcess.RunAsync("bench", "--model", tiny.Model, "--peer", "vllm");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--peer", result.Output, StringComparison.Ordinal);
    }
}
