using System.Text.Json;

using MoeServe.Text.HuggingFace;

namespace MoeServe.Text.Tests.HuggingFace;

/// <summary>The Mixtral fixture's tokenizer.json against the token ids llama.cpp computed (expected.json).</summary>
public sealed class FixtureTokenizerTests
{
    public static TheoryData<string> Prompts()
    {
        var data = new TheoryData<string>();
        foreach (var c in ReadCases())
        {
            data.Add(c.Id);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Prompts))]
    public void Encode_ExpectedPrompt_GivesLlamaCppIds(string promptId)
    {
        var tokenizer = HuggingFaceTokenizerLoader.Load(Path.Combine(HfTestFiles.MixtralFixtureDirectory, "hf", "tokenizer.json"));
        var c = ReadCases().Single(x => x.Id == promptId);
        Assert.Equal(c.Ids, tokenizer.Encode(c.Prompt));
        Assert.Equal(c.Prompt, tokenizer.Decode(c.Ids));
    }

    [Fact]
    public void Load_Fixture_FactsFromConfigFiles()
    {
        var tokenizer = HuggingFaceTokenizerLoader.Load(Path.Combine(HfTestFiles.MixtralFixtureDirectory, "hf", "tokenizer.json"));
        Assert.Equal(TokenizerKind.ByteLevelBpe, tokenizer.Kind);
        Assert.False(tokenizer.AddBos);
        Assert.Equal(4095, tokenizer.BosId);
        Assert.Equal(4095, tokenizer.EosId);
        Assert.Equal([4095, 4097], tokenizer.EndOfGenerationIds);
        Assert.Equal(new Dictionary<string, int> { ["<|endoftext|>"] = 4095, ["<|im_start|>"] = 4096, ["<|im_end|>"] = 4097 }, tokenizer.SpecialTokens);
        Assert.Equal([4096, 4097, 4095], tokenizer.Encode("<|im_start|><|im_end|><|endoftext|>"));
    }

    [Fact]
    public void EncodeToIds_MaxTokenCount_GivesTheFullEncodingsFirstTokens()
    {
        var tokenizer = HuggingFaceTokenizerLoader.Load(Path.Combine(HfTestFiles.MixtralFixtureDirectory, "hf", "tokenizer.json")).Tokenizer;
        string text = string.Join("<|im_end|>\n<|im_start|>", ReadCases().Select(c => c.Prompt));
        var full = tokenizer.EncodeToIds(text);

        // The encoder stops after the piece that reaches the limit: the first n ids must not change.
        foreach (int n in new[] { 1, 2, 7, full.Count / 3, full.Count - 1, full.Count, full.Count + 5 })
        {
            var ids = tokenizer.EncodeToIds(text, n, out _, out int consumed);
            Assert.Equal(full.Take(n), ids);
            Assert.True(consumed <= text.Length);
            Assert.Equal(ids, tokenizer.EncodeToIds(text[..consumed]).Take(n));
        }
    }

    [Fact]
    public void Load_ProjectOwnTokenizerJson_IsRejectedClearly()
    {
        string own = Path.Combine(TestData.CommittedTokenizerDirectory, "tokenizer.json");
        Assert.False(HuggingFaceTokenizerLoader.IsHuggingFaceTokenizerJson(own));
        var e = Assert.Throws<InvalidDataException>(() => HuggingFaceTokenizerLoader.Load(own));
        Assert.Contains("\"model\"", e.Message, StringComparison.Ordinal);
    }

    internal sealed record Case(string Id, string Prompt, int[] Ids);

    internal static IReadOnlyList<Case> ReadCases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(HfTestFiles.MixtralFixtureDirectory, "expected.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => new Case(
                c.GetProperty("prompt_id").GetString()!,
                c.GetProperty("prompt").GetString()!,
                c.GetProperty("token_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray()))
            .ToList();
    }
}
