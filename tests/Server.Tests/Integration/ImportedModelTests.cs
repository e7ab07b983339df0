using MoeServe.Model;
using MoeServe.Model.Import;
using MoeServe.Runtime;
using MoeServe.Runtime.Generation;
using MoeServe.Runtime.Sampling;
using MoeServe.Server.Tests.Support;
using MoeServe.TestSupport;

namespace MoeServe.Server.Tests.Integration;

/// <summary>
/// The server serves a model imported from a Hugging Face checkpoint (manifest format 3, Hugging Face tokenizer).
/// Not run in parallel with the other classes: it imports, loads an engine and starts its own server, and
/// that CPU burst must not slow the timing-sensitive tests (truncated bodies, shutdown) sharing the machine.
/// </summary>
[Collection(ImportedModelCollection.Name)]
public sealed class ImportedModelTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "moeserve-served-import-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task Completions_OnAnImportedQwen3Moe_GreedyTextEqualsTheGenerator()
    {
        string source = Path.Combine(_root, "hf");
        TinyHfCheckpoint.Write(HfFamily.Qwen3Moe, source, seed: 11);
        string model = Path.Combine(_root, "tiny-qwen3");
        new HfImporter().Import(new ImportOptions { Source = source, OutputDirectory = model, WeightType = TensorDType.Float32 });

        string expected;
        using (var engine = MoeEngine.Load(new RuntimeOptions { ModelPath = model, MaxSequences = 2, MaxBatchTokens = 64 }, loggerFactory: null))
        {
            expected = new TextGenerator(engine).Generate("The quick brown fox", new SamplingParameters { Temperature = 0, MaxTokens = 6, StopAtEndOfText = true }).Text;
        }

        using var server = new ServerFactory(new Dictionary<string, string> { ["MoeServe:ModelPath"] = model });
        using var client = await server.CreateReadyClientAsync();
        var body = await Http.PostOkAsync(client, "/v1/completions", """{"prompt":"The quick brown fox","max_tokens":6,"temperature":0}""");

        Assert.Equal("tiny-qwen3", body.GetProperty("model").GetString());
        var usage = body.GetProperty("usage");
        Assert.Equal(19, usage.GetProperty("prompt_tokens").GetInt32()); // the tiny byte-level tokenizer.json: one token per byte
        Assert.Equal(expected, body.GetProperty("choices")[0].GetProperty("text").GetString());

        // /tokenize shows those prompt ids, and tokens as Hugging Face names them (a space is "Ġ" in the byte-level alphabet).
        var tokenized = await Http.PostOkAsync(client, "/tokenize", """{"prompt":"The quick brown fox","return_token_strs":true}""");
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32(), tokenized.GetProperty("count").GetInt32());
        Assert.Equal(["T", "h", "e", "\u0120", "q"], tokenized.GetProperty("token_strs").EnumerateArray().Take(5).Select(t => t.GetString()!));
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }
}

/// <summary>Runs <see cref="ImportedModelTests"/> alone, after the parallel classes.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ImportedModelCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Imported model (not parallel)";
}
