using System.Text.Json;

using MoeServe.Model.Gguf;
using MoeServe.Text.HuggingFace;

namespace MoeServe.Text.Tests.HuggingFace;

/// <summary>GGUF tokenizer metadata -> tokenizer.json: the generated file tokenizes like the original.</summary>
public sealed class GgufTokenizerConverterTests
{
    [Fact]
    public void Convert_FixtureGgufMetadata_TokenizesLikeLlamaCppAndTheHfFile()
    {
        string dir = HfTestFiles.MixtralFixtureDirectory;
        using var gguf = GgufFile.Open(Path.Combine(dir, "mixtral.gguf"));
        var metadata = GgufTokenizerMetadata.FromFile(gguf)!;
        Assert.Equal("gpt2", metadata.Model);
        Assert.Equal("gpt-2", metadata.Pre);

        var converted = GgufTokenizerConverter.Load(metadata);
        var original = HuggingFaceTokenizerLoader.Load(Path.Combine(dir, "hf", "tokenizer.json"));
        foreach (var c in FixtureTokenizerTests.ReadCases())
        {
            Assert.Equal(c.Ids, converted.Encode(c.Prompt));
        }

        AssertSameTokenization(original, converted);
        Assert.False(converted.AddBos);
        Assert.Equal(4095, converted.BosId);
        Assert.Equal(4095, converted.EosId);
        Assert.Equal(4096, converted.SpecialTokens["<|im_start|>"]);
    }

    [Fact]
    public void Convert_ArraysFromFixtureTokenizerJson_RoundTrips()
    {
        string json = Path.Combine(HfTestFiles.MixtralFixtureDirectory, "hf", "tokenizer.json");
        var metadata = FromTokenizerJson(json, "gpt2", "gpt-2") with { BosTokenId = 4095, EosTokenId = 4095, AddBosToken = false };
        AssertSameTokenization(HuggingFaceTokenizerLoader.Load(json), GgufTokenizerConverter.Load(metadata));
    }

    [Fact]
    [Trait(Tiers.Name, Tiers.External)]
    public void Convert_Qwen3Arrays_WithQwen2Pre_RoundTrips()
    {
        string json = Path.Combine(HfTestFiles.Qwen3Directory, "tokenizer.json");
        var metadata = FromTokenizerJson(json, "gpt2", "qwen2") with { EosTokenId = 151645, PaddingTokenId = 151643, AddBosToken = false };
        var converted = GgufTokenizerConverter.Load(metadata);
        AssertSameTokenization(HuggingFaceTokenizerLoader.Load(json), converted);
        Assert.Equal(151645, converted.EosId);
        Assert.Equal(151668, converted.AddedTokens["</think>"]);
        Assert.False(converted.SpecialTokens.ContainsKey("</think>"));
    }

    [Fact]
    [Trait(Tiers.Name, Tiers.External)]
    public void Convert_Llama2ArraysWithScores_RoundTrips()
    {
        string json = Path.Combine(HfTestFiles.Llama2Directory, "tokenizer.json");
        var metadata = FromTokenizerJson(json, "llama", null) with { BosTokenId = 1, EosTokenId = 2, UnknownTokenId = 0, AddBosToken = true };
        var converted = GgufTokenizerConverter.Load(metadata);
        var original = HuggingFaceTokenizerLoader.Load(json);
        AssertSameTokenization(original, converted);
        Assert.True(converted.AddBos);
        Assert.Equal(original.Encode("Hello world"), converted.Encode("Hello world"));
    }

    [Fact]
    public void Convert_UnknownPre_IsRefusedNamingIt()
    {
        var metadata = new GgufTokenizerMetadata { Model = "gpt2", Pre = "martian-7b", Tokens = ["a", "b", "ab"], Merges = ["a b"] };
        var e = Assert.Throws<NotSupportedException>(() => GgufTokenizerConverter.ToTokenizerJson(metadata));
        Assert.Contains("'martian-7b'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Convert_UnknownModel_IsRefusedNamingIt()
    {
        var metadata = new GgufTokenizerMetadata { Model = "rwkv", Tokens = ["a"] };
        var e = Assert.Throws<NotSupportedException>(() => GgufTokenizerConverter.ToTokenizerJson(metadata));
        Assert.Contains("'rwkv'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PreTokenizers_EveryRegex_CompilesAndLoads()
    {
        foreach (var (pre, _) in GgufTokenizerConverter.PreTokenizers)
        {
            var metadata = new GgufTokenizerMetadata { Model = "gpt2", Pre = pre, Tokens = [.. Enumerable.Range(0, 256).Select(b => ByteLevelAlphabet.ToChar((byte)b).ToString())], Merges = [] };
            var tokenizer = GgufTokenizerConverter.Load(metadata);
            Assert.Equal("Hello 123 世界", tokenizer.Decode(tokenizer.Encode("Hello 123 世界", addSpecialTokens: false)));
        }
    }

    private static void AssertSameTokenization(HuggingFaceTokenizer expected, HuggingFaceTokenizer actual)
    {
        var differ = HardStrings.All
            .Where(text => !expected.Encode(text, addSpecialTokens: false).SequenceEqual(actual.Encode(text, addSpecialTokens: false))
                || !expected.Encode(text).SequenceEqual(actual.Encode(text)))
            .Select(text => JsonSerializer.Serialize(text.Length > 60 ? text[..60] : text))
            .ToList();
        Assert.True(differ.Count == 0, $"{differ.Count} of {HardStrings.All.Count} strings tokenize differently: {string.Join(", ", differ)}");
    }

    /// <summary>The arrays a GGUF would hold for a tokenizer.json (as llama.cpp's converter writes them).</summary>
    private static GgufTokenizerMetadata FromTokenizerJson(string path, string model, string? pre)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var vocab = doc.RootElement.GetProperty("model").GetProperty("vocab");
        var byId = new SortedDictionary<int, (string Token, int Type)>();
        foreach (var p in vocab.EnumerateObject())
        {
            string token = p.Name;
            int type = model == "llama" && token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) ? 6 : 1;
            byId[p.Value.GetInt32()] = (token, type);
        }

        foreach (var a in doc.RootElement.GetProperty("added_tokens").EnumerateArray())
        {
            string content = a.GetProperty("content").GetString()!;
            int type = a.GetProperty("special").GetBoolean() ? (content == "<unk>" ? 2 : 3) : 4;
            byId[a.GetProperty("id").GetInt32()] = (content, type);
        }

        Assert.Equal(byId.Count, byId.Keys.Max() + 1);
        var merges = doc.RootElement.GetProperty("model").GetProperty("merges").EnumerateArray()
            .Select(m => m.ValueKind == JsonValueKind.String ? m.GetString()! : m[0].GetString() + " " + m[1].GetString())
            .ToList();

        // SentencePiece scores: a piece's score ranks the first merge that makes it (higher first);
        // pieces no merge makes (single characters) score lowest.
        var ids = byId.ToDictionary(p => p.Value.Token, p => p.Key, StringComparer.Ordinal);
        var score = new Dictionary<int, float>();
        for (int rank = model == "llama" ? merges.Count - 1 : -1; rank >= 0; rank--)
        {
            score[ids[merges[rank].Replace(" ", "", StringComparison.Ordinal)]] = -rank;
        }

        return new GgufTokenizerMetadata
        {
            Model = model,
            Pre = pre,
            Tokens = byId.Values.Select(v => v.Token).ToList(),
            TokenTypes = byId.Values.Select(v => v.Type).ToList(),
            Merges = model == "gpt2" ? merges : null,
            Scores = model == "llama" ? byId.Select(p => p.Value.Type != 1 ? 0f : score.GetValueOrDefault(p.Key, -1e9f)).ToList() : null,
        };
    }
}
