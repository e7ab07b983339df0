using MoeServe.Model;
using MoeServe.Model.Import;
using MoeServe.Runtime;
using MoeServe.Runtime.Generation;
using MoeServe.Runtime.Sampling;
using MoeServe.Server.Tests.Support;
using MoeServe.TestSupport;
using MoeServe.Text.Import;

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

    [Fact]
    public async Task ChatCompletions_OnAGgufImportedMixtral_RendersTheShippedTemplateAndMatchesTheGenerator()
    {
        // A GGUF (architecture llama with experts, q/k permuted, ChatML in tokenizer.chat_template) imported as the CLI does.
        var (gguf, _) = TinyGguf.Write(HfFamily.Mixtral, Path.Combine(_root, "gguf"), seed: 5);
        string model = Path.Combine(_root, "tiny-mixtral-gguf");
        var result = new HfImporter(tokenizers: new ImportTokenizerProvider())
            .Import(new ImportOptions { Source = gguf, OutputDirectory = model, WeightType = TensorDType.Float32 });
        Assert.Equal("chat template: the model's shipped template", result.ChatTemplateDescription);
        // eos, and <|im_end|> (a control token llama.cpp also ends generation at).
        Assert.Equal([TinyHfCheckpoint.EndOfTextId, 258], result.Manifest.EndOfSequenceIds);

        const string prompt = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nThe quick brown fox<|im_end|>\n<|im_start|>assistant\n";
        string expected;
        int promptTokens;
        using (var engine = MoeEngine.Load(new RuntimeOptions { ModelPath = model, MaxSequences = 2, MaxBatchTokens = 64 }, loggerFactory: null))
        {
            promptTokens = engine.EncodePrompt(prompt).Length;
            expected = new TextGenerator(engine).Generate(prompt, new SamplingParameters { Temperature = 0, MaxTokens = 8, StopAtEndOfText = true, Stop = ["<|im_end|>"] }).Text;
        }

        using var server = new ServerFactory(new Dictionary<string, string> { ["MoeServe:ModelPath"] = model });
        using var client = await server.CreateReadyClientAsync();
        var body = await Http.PostOkAsync(client, "/v1/chat/completions", """{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"The quick brown fox"}],"max_tokens":8,"temperature":0}""");

        Assert.Equal("tiny-mixtral-gguf", body.GetProperty("model").GetString());
        Assert.True(server.Model.ChatPrompt.UsesJinja);
        // <|im_start|> and <|im_end|> are one token each; the rest one token per byte.
        Assert.Equal(prompt.Length - (3 * "<|im_start|>".Length) - (2 * "<|im_end|>".Length) + 5, promptTokens);
        Assert.Equal(promptTokens, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.NotEmpty(expected);
        Assert.Equal(expected, body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
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
