using System.Diagnostics;
using System.Text;

using MoeServe.Text.HuggingFace;

using Xunit.Abstractions;

namespace MoeServe.Text.Tests.HuggingFace;

/// <summary>
/// Our tokenizer.json loader against the reference (transformers.js's tokenizer, run with Node) on
/// the hard strings, for Qwen3's real 151,643-token byte-level BPE, Llama 2's 32,000-token
/// SentencePiece-style BPE, and the Mixtral fixture's byte-level BPE: identical ids required.
/// </summary>
[Trait(Tiers.Name, Tiers.External)]
public sealed class ReferenceTokenizerTests(ITestOutputHelper output)
{
    public static TheoryData<string> Tokenizers => new() { "qwen3", "llama2", "fixture" };

    /// <summary>The real tokenizers plus variants of them in the other shapes checkpoints ship: a Metaspace
    /// pre-tokenizer (newer Mistral/Mixtral files), GPT-NeoX's ByteLevel-with-regex pre-tokenizer (OLMoE),
    /// with and without add_prefix_space.</summary>
    public static TheoryData<string> TokenizersAndVariants => new() { "qwen3", "llama2", "fixture", "llama2-metaspace", "fixture-bytelevel-regex", "fixture-prefix-space" };

    [Theory]
    [MemberData(nameof(TokenizersAndVariants))]
    public void Encode_HardStrings_MatchesTransformersJs(string name)
    {
        var (json, config) = Paths(name);
        var clock = Stopwatch.StartNew();
        var tokenizer = HuggingFaceTokenizerLoader.Load(json);
        output.WriteLine($"{name}: loaded in {clock.ElapsedMilliseconds} ms");

        var texts = HardStrings.All;
        var expected = NodeOracle.Encode(json, config, texts);
        var mismatches = new StringBuilder();
        int identical = 0;
        for (int i = 0; i < texts.Count; i++)
        {
            var plain = tokenizer.Encode(texts[i], addSpecialTokens: false);
            var withSpecial = tokenizer.Encode(texts[i], addSpecialTokens: true);
            if (plain.SequenceEqual(expected[i].Plain) && withSpecial.SequenceEqual(expected[i].Ids))
            {
                identical++;
                continue;
            }

            string shown = texts[i].Length > 60 ? texts[i][..60] + "..." : texts[i];
            mismatches.AppendLine($"  {System.Text.Json.JsonSerializer.Serialize(shown)}:\n    ours [{string.Join(',', withSpecial.Take(40))}]\n    ref  [{string.Join(',', expected[i].Ids.Take(40))}]");
        }

        output.WriteLine($"{name}: {identical}/{texts.Count} strings identical");
        Assert.True(mismatches.Length == 0, $"{name}: {texts.Count - identical} of {texts.Count} strings differ from transformers.js:\n{mismatches}");
    }

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void Decode_HardStrings_RoundTrips(string name)
    {
        var tokenizer = HuggingFaceTokenizerLoader.Load(Paths(name).Json);
        // Llama 2's legacy tokenizer.json prepends ▁ to every section between added tokens, so text
        // right after <s> or </s> does not decode back exactly (as in transformers); those are left out.
        var texts = HardStrings.All.Where(t => tokenizer.Kind == TokenizerKind.ByteLevelBpe || !tokenizer.AddedTokens.Keys.Any(t.Contains));
        foreach (string text in texts)
        {
            // Qwen3's normalizer is NFC: decoding gives the NFC form back.
            string expected = name == "qwen3" ? text.Normalize(NormalizationForm.FormC) : text;
            Assert.Equal(expected, tokenizer.Decode(tokenizer.Encode(text, addSpecialTokens: false)));
        }
    }

    [Fact]
    public void Load_Qwen3_HasTheFullVocabularyAndReportsItsLoadTime()
    {
        string json = Path.Combine(HfTestFiles.Qwen3Directory, "tokenizer.json");
        // Timing is reported, not asserted (a loaded CI machine is no benchmark).
        HuggingFaceTokenizerLoader.Load(json); // warm the JIT and the file cache
        var clock = Stopwatch.StartNew();
        var tokenizer = HuggingFaceTokenizerLoader.Load(json);
        var load = clock.Elapsed;
        clock.Restart();
        var ids = tokenizer.Encode(string.Concat(HardStrings.All));
        var encode = clock.Elapsed;
        output.WriteLine($"Qwen3 tokenizer.json (151,643 vocab + 151,387 merges): load {load.TotalMilliseconds:F0} ms; {ids.Count} tokens in {encode.TotalMilliseconds:F1} ms");
        Assert.Equal(151_669, ((HuggingFaceBpeTokenizer)tokenizer.Tokenizer).VocabularySize);
    }

    [Fact]
    public void Load_Qwen3_FactsFromTokenizerConfig()
    {
        var tokenizer = HuggingFaceTokenizerLoader.Load(Path.Combine(HfTestFiles.Qwen3Directory, "tokenizer.json"));
        Assert.Equal(TokenizerKind.ByteLevelBpe, tokenizer.Kind);
        Assert.False(tokenizer.AddBos);
        Assert.Null(tokenizer.BosId);
        Assert.Equal(151645, tokenizer.EosId); // eos_token <|im_end|>
        Assert.Equal(151643, tokenizer.PadId); // pad_token <|endoftext|>
        Assert.Equal(151644, tokenizer.SpecialTokens["<|im_start|>"]);
        Assert.Equal(151667, tokenizer.AddedTokens["<think>"]);
        Assert.False(tokenizer.SpecialTokens.ContainsKey("<think>"));
        Assert.Equal([151644, 872, 198, 6023, 151645], tokenizer.Encode("<|im_start|>user\nhi<|im_end|>"));
    }

    [Fact]
    public void Load_Llama2_FactsFromTemplateAndConfig()
    {
        var tokenizer = HuggingFaceTokenizerLoader.Load(Path.Combine(HfTestFiles.Llama2Directory, "tokenizer.json"));
        Assert.Equal(TokenizerKind.SentencePieceBpe, tokenizer.Kind);
        Assert.True(tokenizer.AddBos);
        Assert.False(tokenizer.AddEos);
        Assert.Equal(1, tokenizer.BosId);
        Assert.Equal(2, tokenizer.EosId);
        Assert.Equal(0, tokenizer.UnkId);
        Assert.Equal(1, tokenizer.Encode("Hello")[0]);
        Assert.NotEqual(1, tokenizer.Encode("Hello", addSpecialTokens: false)[0]);
    }

    internal static (string Json, string? Config) Paths(string name)
    {
        if (name.Contains('-', StringComparison.Ordinal))
        {
            return Variant(name);
        }

        string dir = name switch
        {
            "qwen3" => HfTestFiles.Qwen3Directory,
            "llama2" => HfTestFiles.Llama2Directory,
            "fixture" => Path.Combine(HfTestFiles.MixtralFixtureDirectory, "hf"),
            _ => throw new ArgumentException(name),
        };
        string config = Path.Combine(dir, "tokenizer_config.json");
        return (Path.Combine(dir, "tokenizer.json"), File.Exists(config) ? config : null);
    }

    /// <summary>Writes a variant of a real tokenizer.json to a temporary directory (kept for the process's life).</summary>
    private static (string Json, string? Config) Variant(string name)
    {
        var (baseJson, baseConfig) = Paths(name.StartsWith("llama2", StringComparison.Ordinal) ? "llama2" : "fixture");
        var root = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(baseJson))!.AsObject();
        switch (name)
        {
            case "llama2-metaspace":
                root["normalizer"] = null;
                root["pre_tokenizer"] = System.Text.Json.Nodes.JsonNode.Parse("{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"first\",\"split\":false}");
                break;
            case "fixture-bytelevel-regex":
                root["pre_tokenizer"] = System.Text.Json.Nodes.JsonNode.Parse("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}");
                break;
            case "fixture-prefix-space":
                root["pre_tokenizer"] = System.Text.Json.Nodes.JsonNode.Parse("{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}");
                break;
            default:
                throw new ArgumentException(name);
        }

        string dir = Path.Combine(Path.GetTempPath(), "moeserve-tokenizer-variants", name);
        Directory.CreateDirectory(dir);
        string json = Path.Combine(dir, "tokenizer.json");
        File.WriteAllText(json, root.ToJsonString());
        string? config = null;
        if (baseConfig is not null)
        {
            config = Path.Combine(dir, "tokenizer_config.json");
            File.Copy(baseConfig, config, overwrite: true);
        }

        return (json, config);
    }
}
