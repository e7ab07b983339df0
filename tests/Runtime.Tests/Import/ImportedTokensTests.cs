using System.Text.Json.Nodes;
using MoeServe.Model;
using MoeServe.Model.Import;
using MoeServe.Runtime.Generation;
using MoeServe.Runtime.Sampling;
using MoeServe.TestSupport;
using MoeServe.Text.HuggingFace;

namespace MoeServe.Runtime.Tests.Import;

/// <summary>BOS and EOS of an imported model: add_bos_token puts the BOS id in front of prompts; every eos_token_id ends generation.</summary>
public sealed class ImportedTokensTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "moeserve-tokens-" + Guid.NewGuid().ToString("N"));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EncodePrompt_PrependsBosOnlyWhenTheTokenizerConfigAsks(bool addBos)
    {
        using var engine = Import(addBos);
        Assert.Equal(addBos, engine.Manifest.AddBos);
        Assert.Equal(TinyHfCheckpoint.EndOfTextId, engine.Manifest.BosId);
        int[] expected = addBos ? [TinyHfCheckpoint.EndOfTextId, 72, 105] : [72, 105];
        Assert.Equal(expected, engine.EncodePrompt("Hi"));
        Assert.Equal([72, 105], engine.Prompts.Encode("Hi", addSpecialTokens: false));
        Assert.Equal(expected, engine.Prompts.Encode("Hi"));
    }

    [Fact]
    public void Encode_MaxTokens_StopsAtTheCapAndKeepsThePrefix()
    {
        using var engine = Import(addBos: true);
        var text = string.Concat(Enumerable.Repeat("Hi there ", 500));
        var full = engine.Prompts.Encode(text);
        var capped = engine.Prompts.Encode(text, maxTokens: 7);

        Assert.True(full.Length > 100);
        Assert.Equal(8, capped.Length); // BOS + the first 7 tokenizer ids
        Assert.Equal(full[..8], capped);
    }

    [Fact]
    public void TokenText_ByteLevelBpe_IsTheVocabularyEntryAsHuggingFaceShowsIt()
    {
        using var engine = Import(addBos: false);
        Assert.Equal("H", engine.Prompts.TokenText(72));
        Assert.Equal("\u0120", engine.Prompts.TokenText(32)); // a space is "Ġ" in the byte-level alphabet
        Assert.Equal("<|endoftext|>", engine.Prompts.TokenText(TinyHfCheckpoint.EndOfTextId));
        Assert.Equal("<|endoftext|>Hi", engine.Prompts.Decode([TinyHfCheckpoint.EndOfTextId, 72, 105]));
        Assert.Equal("Hi", engine.Prompts.Decode([TinyHfCheckpoint.EndOfTextId, 72, 105], skipSpecialTokens: true));

        // src/Text's tokenizer.json loader (the one `tokenizer encode --from` uses) names tokens the same way.
        var huggingFace = HuggingFaceTokenizerLoader.Load(Path.Combine(engine.ModelDirectory, engine.Manifest.Tokenizer.HuggingFaceTokenizer!));
        var viaText = new PromptEncoder(huggingFace.Tokenizer, engine.Manifest);
        Assert.Equal("\u0120", viaText.TokenText(32));
        Assert.Equal("<|endoftext|>", viaText.TokenText(TinyHfCheckpoint.EndOfTextId));
    }

    [Fact]
    public void EveryEosId_EndsGeneration()
    {
        using var engine = Import(addBos: false);
        Assert.Equal([TinyHfCheckpoint.EndOfTextId, 258], engine.StopTokenIds);
        foreach (int eos in engine.StopTokenIds)
        {
            using var output = new TokenOutput(engine.Tokenizer, new SamplingParameters { MaxTokens = 8 }, engine.StopTokenIds, promptTokens: 2, engine.ContextLength);
            Assert.Null(output.Append(new TokenLogprob(72, -1f)).Finish);
            var step = output.Append(new TokenLogprob(eos, -1f));
            Assert.Equal(FinishReason.Stop, step.Finish);
            Assert.False(step.Counted);
            Assert.Equal(1, output.Generated);
        }

        using var ignoring = new TokenOutput(engine.Tokenizer, new SamplingParameters { MaxTokens = 8, StopAtEndOfText = false }, engine.StopTokenIds, promptTokens: 2, engine.ContextLength);
        Assert.Null(ignoring.Append(new TokenLogprob(258, -1f)).Finish);
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private MoeEngine Import(bool addBos)
    {
        string source = Path.Combine(_root, $"hf-{addBos}");
        TinyHfCheckpoint.Write(HfFamily.Mixtral, source, seed: 2);
        string configPath = Path.Combine(source, "tokenizer_config.json");
        var tokenizerConfig = JsonNode.Parse(File.ReadAllText(configPath))!;
        tokenizerConfig["add_bos_token"] = addBos;
        File.WriteAllText(configPath, tokenizerConfig.ToJsonString());
        string model = Path.Combine(_root, $"model-{addBos}");
        new HfImporter().Import(new ImportOptions { Source = source, OutputDirectory = model, WeightType = TensorDType.Float32 });
        return MoeEngine.Load(new RuntimeOptions { ModelPath = model, MaxSequences = 2, MaxBatchTokens = 64 }, loggerFactory: null);
    }
}
