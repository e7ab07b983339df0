using MoeServe.Import.Tests.Support;
using MoeServe.Model;
using MoeServe.Model.Import;
using MoeServe.Runtime;
using MoeServe.TestSupport;
using MoeServe.Text.HuggingFace;
using MoeServe.Text.Import;
using Xunit.Abstractions;

namespace MoeServe.Import.Tests.Imported;

/// <summary>
/// For each family, a tiny random checkpoint in both forms (the GGUF written by the project's converter as
/// convert_hf_to_gguf.py writes it, and the same weights as a Hugging Face checkpoint) is imported at float32 and
/// run through the per-expert ONNX path, and compared with llama.cpp (LLamaSharp) evaluating the GGUF: the same
/// token ids for a text, logits within 1e-3 relative at every position, the same argmax at every position and
/// perplexity within 0.1%.
/// </summary>
public sealed class ImportVsLlamaCppTests(ITestOutputHelper output) : IDisposable
{
    private const string Text = "the cat sat on the mat; then a theory of everything, and the rest of the thread.";

    private readonly string _dir = Directory.CreateTempSubdirectory("import-vs-llamacpp-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string, string> FamiliesAndForms()
    {
        var data = new TheoryData<string, string>();
        foreach (string family in TinyMoe.Families)
        {
            data.Add(family, "gguf");
            data.Add(family, "hf");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(FamiliesAndForms))]
    public void ImportedFloat32_MatchesLlamaCpp(string family, string form)
    {
        using InMemoryHfCheckpoint hf = TinyMoe.Create(family, seed: 7);
        string gguf = Path.Combine(_dir, family + ".gguf");
        HfToGgufConverter.Convert(hf, TinyMoe.Tokenizer(), gguf, name: "tiny-" + family);
        LlamaCppReference.Result reference = LlamaCppReference.Evaluate(gguf, Text);

        string model = Path.Combine(_dir, "models", family + "-" + form);
        var importer = new HfImporter(tokenizers: new ImportTokenizerProvider());
        if (form == "gguf")
        {
            importer.Import(new ImportOptions { Source = gguf, OutputDirectory = model, WeightType = TensorDType.Float32 });
        }
        else
        {
            // The Hugging Face form: the same tensors as config.json + model.safetensors, and the tokenizer as the
            // tokenizer.json the GGUF's metadata converts to.
            string directory = Path.Combine(_dir, "hf-" + family);
            Directory.CreateDirectory(directory);
            File.WriteAllText(Path.Combine(directory, "config.json"), hf.Config.ToJsonString());
            TinyHfCheckpoint.WriteSafeTensors(
                Path.Combine(directory, "model.safetensors"),
                hf.Tensors.ToDictionary(t => t.Key, t => (Array.ConvertAll(t.Value.Shape, d => (long)d), t.Value.Data)),
                "F32");
            File.WriteAllText(Path.Combine(directory, "tokenizer.json"), GgufTokenizerConverter.ToTokenizerJson(TinyMoe.Tokenizer()));
            File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), GgufTokenizerConverter.ToTokenizerConfigJson(TinyMoe.Tokenizer()));
            importer.Import(new ImportOptions { Source = directory, OutputDirectory = model, WeightType = TensorDType.Float32 });
        }

        Compare(family + " " + form, model, Text, reference);
    }

    [Fact]
    public void SentencePieceGguf_TokenizesAndComputesAsLlamaCpp()
    {
        // Mixtral's GGUFs carry a llama (SentencePiece) vocabulary: BOS added, spaces as ▁, byte fallback for what
        // no piece covers (digits, capitals, punctuation, é), merges by score. The runtime loads its tokenizer.json.
        var tokenizer = TinyMoe.SentencePieceTokenizer();
        using InMemoryHfCheckpoint hf = TinyMoe.Create("mixtral", seed: 9, vocabSize: tokenizer.Tokens.Count);
        string gguf = Path.Combine(_dir, "spm.gguf");
        HfToGgufConverter.Convert(hf, tokenizer, gguf, name: "tiny-spm");
        const string text = "In the beginning of the heaven and the earth, 42 cats sat on a mat. Café!";
        LlamaCppReference.Result reference = LlamaCppReference.Evaluate(gguf, text);
        Assert.Equal(1, reference.TokenIds[0]); // <s>

        string model = Path.Combine(_dir, "models", "spm");
        new HfImporter(tokenizers: new ImportTokenizerProvider())
            .Import(new ImportOptions { Source = gguf, OutputDirectory = model, WeightType = TensorDType.Float32 });
        Compare("mixtral, SentencePiece vocabulary", model, text, reference);
    }

    private void Compare(string what, string model, string text, LlamaCppReference.Result reference)
    {
        using var engine = MoeEngine.Load(new RuntimeOptions { ModelPath = model, MaxBatchTokens = 256 }, loggerFactory: null);
        int[] ids = engine.EncodePrompt(text);
        Assert.Equal(reference.TokenIds, ids);

        int v = engine.VocabSize;
        Assert.Equal(reference.Logits[0].Length, v);
        float[] flat = new float[ids.Length * v];
        using (var cache = engine.CreateCache())
        {
            engine.ForwardAllPositions([new ForwardItem(cache, ids)], flat);
        }

        float[][] logits = Enumerable.Range(0, ids.Length).Select(p => flat.AsSpan(p * v, v).ToArray()).ToArray();
        double relative = Numerics.Relative(reference.Logits, logits);
        double relativeLast = Numerics.MaxAbsDiff(reference.Logits[^1], logits[^1]) / Numerics.MaxAbs(reference.Logits[^1]);
        int argmaxAgree = reference.Logits.Zip(logits).Count(p => Numerics.ArgMax(p.First) == Numerics.ArgMax(p.Second));
        double perplexity = Numerics.Perplexity(logits, ids);
        double expectedPerplexity = Numerics.Perplexity(reference.Logits, reference.TokenIds);
        double perplexityDiff = Math.Abs(perplexity / expectedPerplexity - 1);
        output.WriteLine($"{what}: {ids.Length} tokens, max rel logit error {relative:E2} (last position {relativeLast:E2}), argmax {argmaxAgree}/{ids.Length}, perplexity {perplexity:F4} vs llama.cpp {expectedPerplexity:F4} (rel {perplexityDiff:E2})");

        Assert.True(relative <= 1e-3, $"{what}: logits differ from llama.cpp by {relative:E2} relative");
        Assert.Equal(ids.Length, argmaxAgree);
        Assert.True(perplexityDiff <= 1e-3, $"{what}: perplexity {perplexity} vs llama.cpp {expectedPerplexity}");
    }
}
