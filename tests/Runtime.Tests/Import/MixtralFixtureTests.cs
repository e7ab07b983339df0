using System.Text.Json;
using MoeServe.Model;
using MoeServe.Model.Import;
using MoeServe.TestSupport;
using MoeServe.Text.Import;
using Xunit.Abstractions;

namespace MoeServe.Runtime.Tests.Import;

/// <summary>
/// The tiny Mixtral of shared/fixtures/moe-import, imported at float32 from both its forms (the Hugging Face
/// directory and mixtral.gguf) and run through the per-expert ONNX path, against what llama.cpp computed on
/// the GGUF form (expected.json): same token ids, last-position logits within 1e-3 relative, the same argmax at
/// every position, perplexity within 0.1%.
/// </summary>
public sealed class MixtralFixtureTests : IClassFixture<MixtralFixtureTests.ImportedMixtral>
{
    private readonly ImportedMixtral _model;
    private readonly ITestOutputHelper _output;

    public MixtralFixtureTests(ImportedMixtral model, ITestOutputHelper output)
    {
        _model = model;
        _output = output;
    }

    public static TheoryData<string, string> FormsAndPrompts()
    {
        var data = new TheoryData<string, string>();
        foreach (string form in ImportedMixtral.Forms)
        {
            foreach (string prompt in new[] { "genesis_1_1", "genesis_1_3", "ecclesiastes_3_1_8_200tok" })
            {
                data.Add(form, prompt);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(FormsAndPrompts))]
    public void ImportedFloat32_MatchesLlamaCpp(string form, string promptId)
    {
        var expected = _model.Case(promptId);
        int[] ids = expected.GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var engine = _model.Engine(form);
        Assert.Equal(ids, engine.EncodePrompt(expected.GetProperty("prompt").GetString()!));
        int v = engine.VocabSize;
        float[] logits = new float[ids.Length * v];
        using (var cache = engine.CreateCache())
        {
            engine.ForwardAllPositions([new ForwardItem(cache, ids)], logits);
        }

        // Last-position logits, relative to the largest |logit| of llama.cpp's.
        float[] last = expected.GetProperty("logits_last").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        Assert.Equal(v, last.Length);
        double maxDiff = 0;
        double maxLogit = 0;
        for (int i = 0; i < v; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(logits[((ids.Length - 1) * v) + i] - last[i]));
            maxLogit = Math.Max(maxLogit, Math.Abs(last[i]));
        }

        double relative = maxDiff / maxLogit;
        Assert.True(relative <= 1e-3, $"{promptId}: max |logit diff| {maxDiff:G4} / max |logit| {maxLogit:G4} = {relative:G4} > 1e-3");

        // Argmax at every position.
        int[] argmax = expected.GetProperty("argmax_per_position").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        for (int p = 0; p < ids.Length; p++)
        {
            var row = logits.AsSpan(p * v, v);
            Assert.True(argmax[p] == System.Numerics.Tensors.TensorPrimitives.IndexOfMax(row), $"{promptId}: argmax differs at position {p}");
        }

        // Perplexity from the next-token negative log-likelihoods.
        double nll = 0;
        for (int p = 0; p + 1 < ids.Length; p++)
        {
            var row = logits.AsSpan(p * v, v);
            float max = System.Numerics.Tensors.TensorPrimitives.Max(row);
            double sum = 0;
            foreach (float x in row)
            {
                sum += Math.Exp(x - max);
            }

            nll += max + Math.Log(sum) - row[ids[p + 1]];
        }

        double perplexity = Math.Exp(nll / (ids.Length - 1));
        double expectedPerplexity = expected.GetProperty("perplexity").GetDouble();
        double perplexityDiff = Math.Abs(perplexity - expectedPerplexity) / expectedPerplexity;
        Assert.True(perplexityDiff <= 1e-3, $"{promptId}: perplexity {perplexity:G8} vs llama.cpp {expectedPerplexity:G8} ({perplexityDiff:P4})");
        _output.WriteLine($"{form} {promptId}: {ids.Length} tokens, max rel logit diff {relative:G3}, argmax {ids.Length}/{ids.Length}, perplexity {perplexity:F4} vs {expectedPerplexity:F4} (rel {perplexityDiff:G3})");
    }

    [Theory]
    [MemberData(nameof(FormsAndPrompts))]
    public void Tokenizer_EncodesAndDecodesPromptsAsLlamaCpp(string form, string promptId)
    {
        var expected = _model.Case(promptId);
        int[] ids = expected.GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        string prompt = expected.GetProperty("prompt").GetString()!;
        Assert.Equal(ids, _model.Engine(form).Tokenizer.EncodeToIds(prompt).ToArray());
        Assert.Equal(prompt, _model.Engine(form).Tokenizer.Decode(ids));
    }

    [Theory]
    [InlineData("hf")]
    [InlineData("gguf")]
    public void Manifest_RecordsTheImportedArchitecture(string form)
    {
        var manifest = _model.Engine(form).Manifest;
        var c = manifest.Config;
        Assert.Equal(ModelManifest.CurrentFormatVersion, manifest.FormatVersion);
        Assert.Equal((4, 2, 16, 8, 2, 96), (c.Heads, c.KeyValueHeads, c.HeadDim, c.Experts, c.TopK, c.ExpertHidden));
        Assert.True(c.UntiedHead);
        Assert.True(c.Renormalize);
        Assert.Equal(1e-6, c.NormEps);
        Assert.Equal(TokenizerKind.HuggingFace, manifest.Tokenizer.Kind);
        Assert.Equal([4095, 4097], manifest.EndOfSequenceIds);
        Assert.Equal(4095, manifest.EndOfTextId);
        Assert.Equal(4095, manifest.BosId);
        Assert.False(manifest.AddBos);
        Assert.All(manifest.Routing.Q, q => Assert.All(q, x => Assert.Equal(0f, x)));

        // Both forms ship the same ChatML template (tokenizer_config.json's chat_template, the GGUF's tokenizer.chat_template).
        Assert.NotNull(manifest.JinjaChatTemplate);
        Assert.StartsWith("{% for message in messages %}", manifest.JinjaChatTemplate.Template, StringComparison.Ordinal);
        Assert.Contains("<|im_start|>", manifest.JinjaChatTemplate.Template, StringComparison.Ordinal);
        Assert.Equal("<|endoftext|>", manifest.JinjaChatTemplate.EosToken);
        Assert.Equal(_model.Engine("hf").Manifest.JinjaChatTemplate, manifest.JinjaChatTemplate);
        Assert.Equal(form == "gguf" ? "gguf" : "huggingface", (string?)manifest.Export!.Import!["format"]);
    }

    /// <summary>Imports both forms of the fixture once per test class into a temporary directory and loads them.</summary>
    public sealed class ImportedMixtral : IDisposable
    {
        /// <summary>The fixture's two forms: "hf" (the Hugging Face directory) and "gguf" (mixtral.gguf).</summary>
        public static readonly string[] Forms = ["hf", "gguf"];

        private readonly string _root = Path.Combine(Path.GetTempPath(), "moeserve-import-" + Guid.NewGuid().ToString("N"));
        private readonly JsonDocument _expected;
        private readonly Dictionary<string, MoeEngine> _engines = new(StringComparer.Ordinal);

        public ImportedMixtral()
        {
            string fixture = Path.Combine(SharedFixtures.Directory("moe-import"), "mixtral");
            _expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixture, "expected.json")));
            var importer = new HfImporter(tokenizers: new ImportTokenizerProvider());
            foreach (var (form, source) in new[] { ("hf", Path.Combine(fixture, "hf")), ("gguf", Path.Combine(fixture, "mixtral.gguf")) })
            {
                string model = Path.Combine(_root, "mixtral-" + form);
                importer.Import(new ImportOptions { Source = source, OutputDirectory = model, WeightType = TensorDType.Float32 });
                _engines[form] = MoeEngine.Load(new RuntimeOptions { ModelPath = model, MaxBatchTokens = 256, KvCacheDType = KvCacheDType.Float32 }, loggerFactory: null);
            }
        }

        public MoeEngine Engine(string form) => _engines[form];

        public JsonElement Case(string promptId) =>
            _expected.RootElement.GetProperty("cases").EnumerateArray().Single(c => c.GetProperty("prompt_id").GetString() == promptId);

        public void Dispose()
        {
            foreach (var engine in _engines.Values)
            {
                engine.Dispose();
            }

            _expected.Dispose();
            Directory.Delete(_root, recursive: true);
        }
    }
}
