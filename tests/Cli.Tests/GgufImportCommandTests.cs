using System.Text.Json.Nodes;
using MoeServe.Cli.Tests.Support;
using MoeServe.Model;
using MoeServe.Model.Gguf;
using MoeServe.TestSupport;
using Xunit.Abstractions;

namespace MoeServe.Cli.Tests;

/// <summary>
/// <c>import --from FILE.gguf</c> end to end: a tiny GGUF (written as llama.cpp's converter writes it) imports with
/// its tokenizer and chat template, <c>eval --json</c> and <c>generate</c> run on it, <c>--chat-template</c>
/// overrides the shipped template; every refused GGUF exits 2 with one line naming the key or tensor and its value,
/// and leaves nothing in <c>--out</c>'s parent.
/// </summary>
public sealed class GgufImportCommandTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "moeserve-cli-gguf-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task ImportGguf_ThenEvalAndGenerate_Work()
    {
        var (gguf, _) = TinyGguf.Write(HfFamily.Qwen2Moe, Path.Combine(_root, "src"), seed: 3);
        string model = Path.Combine(_root, "models", "tiny-qwen2-gguf");

        var import = await CliProcess.RunAsync("import", "--from", gguf, "--out", model, "--dtype", "float32");

        Assert.True(import.ExitCode == 0, import.Output);
        Assert.Contains("layer 2/2 written", import.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("chat template: the model's shipped template", import.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("done: qwen2_moe", import.StandardOutput, StringComparison.Ordinal);
        var manifest = ModelManifest.Load(model);
        Assert.Equal("gguf", (string?)manifest.Export!.Import!["format"]);
        Assert.True(File.Exists(Path.Combine(model, "tokenizer.json")));
        Assert.Contains("<|im_start|>", manifest.JinjaChatTemplate!.Template, StringComparison.Ordinal);

        string data = Path.Combine(_root, "data.txt");
        await File.WriteAllTextAsync(data, string.Concat(Enumerable.Repeat("In the beginning God created the heaven and the earth. ", 8)));
        var eval = await CliProcess.RunAsync("eval", "--model", model, "--data", data, "--seq-len", "32", "--tokens", "128", "--json", "--no-install");
        Assert.True(eval.ExitCode == 0, eval.Output);
        var json = JsonNode.Parse(eval.StandardOutput[eval.StandardOutput.IndexOf('{', StringComparison.Ordinal)..])!;
        double perplexity = (double)json["perplexity"]!;
        Assert.True(perplexity > 1 && double.IsFinite(perplexity), $"perplexity {perplexity}");
        Assert.Equal(32, (int)json["sequenceLength"]!);

        var generate = await CliProcess.RunAsync("generate", "--model", model, "--prompt", "Hello", "--max-tokens", "5", "--temperature", "0");
        Assert.True(generate.ExitCode == 0, generate.Output);
    }

    [Fact]
    public async Task ImportGguf_ChatTemplateFlag_OverridesTheShippedTemplate()
    {
        var (gguf, _) = TinyGguf.Write(HfFamily.Olmoe, Path.Combine(_root, "src"), seed: 4);
        string template = Path.Combine(_root, "mine.jinja");
        const string Text = "{% for message in messages %}<<{{ message['role'] }}>>{{ message['content'] }}{% endfor %}";
        await File.WriteAllTextAsync(template, Text);
        string model = Path.Combine(_root, "models", "tiny-olmoe");

        var import = await CliProcess.RunAsync("import", "--from", gguf, "--out", model, "--chat-template", template);

        Assert.True(import.ExitCode == 0, import.Output);
        Assert.Contains("chat template: user file 'mine.jinja'", import.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(Text, ModelManifest.Load(model).JinjaChatTemplate!.Template);
    }

    [Fact]
    public async Task ImportGguf_WithoutTemplate_FallsBackToTheFamilysBuiltIn()
    {
        var (gguf, _) = TinyGguf.Write(HfFamily.Mixtral, Path.Combine(_root, "src"), seed: 4, chatTemplate: "");
        string model = Path.Combine(_root, "models", "tiny-mixtral");

        var import = await CliProcess.RunAsync("import", "--from", gguf, "--out", model);

        Assert.True(import.ExitCode == 0, import.Output);
        Assert.Contains("chat template: built-in 'mistral-inst' (the model ships none)", import.StandardOutput, StringComparison.Ordinal);
        Assert.StartsWith("{{ bos_token }}", ModelManifest.Load(model).JinjaChatTemplate!.Template, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> Refusals => new()
    {
        { "architecture", "general.architecture 'gemma2' is not supported" },
        { "tensor-type", "tensor 'token_embd.weight'" },
        { "rope-scaling", "GGUF metadata: llama.rope.scaling.type = \"yarn\" (RoPE scaling is not supported)" },
        { "sliding-window", "GGUF metadata: qwen2moe.attention.sliding_window = 64 (sliding-window attention is not supported)" },
        { "dense-llama", "dense llama model (no llama.expert_count)" },
        { "gating", "qwen3moe.expert_gating_func is 2 (only softmax, 1, is supported)" },
        { "tokenizer-pre", "tokenizer.ggml.pre" },
        { "tokenizer-model", "tokenizer.ggml.model 'bert' is not supported" },
        { "chat-template", "--chat-template: " },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task ImportGguf_Refused_ExitsTwoWithOneLineAndWritesNothing(string refusal, string expected)
    {
        var family = refusal switch
        {
            "sliding-window" => HfFamily.Qwen2Moe,
            "gating" => HfFamily.Qwen3Moe,
            _ => HfFamily.Mixtral,
        };
        var (source, _) = TinyGguf.Write(family, Path.Combine(_root, "src"), seed: 1);
        string gguf = Path.Combine(_root, "src", "refused.gguf");
        var extra = new List<string>();
        switch (refusal)
        {
            case "architecture":
                TinyGguf.Rewrite(source, gguf, (key, value) => key == "general.architecture" ? new GgufValue(GgufValueType.String, "gemma2") : value);
                break;
            case "tensor-type":
                File.Copy(source, gguf);
                TinyGguf.RelabelTensorType(gguf, "token_embd.weight", GgmlType.Q5_K);
                expected = "Q5_K";
                break;
            case "rope-scaling":
                TinyGguf.Rewrite(source, gguf, add: w =>
                {
                    w.AddString("llama.rope.scaling.type", "yarn");
                    w.AddFloat32("llama.rope.scaling.factor", 4f);
                });
                break;
            case "sliding-window":
                TinyGguf.Rewrite(source, gguf, add: w => w.AddUInt32("qwen2moe.attention.sliding_window", 64));
                break;
            case "dense-llama":
                TinyGguf.Rewrite(source, gguf, (key, value) => key.StartsWith("llama.expert", StringComparison.Ordinal) ? null : value);
                break;
            case "gating":
                TinyGguf.Rewrite(source, gguf, add: w => w.AddUInt32("qwen3moe.expert_gating_func", 2));
                break;
            case "tokenizer-pre":
                TinyGguf.Rewrite(source, gguf, (key, value) => key == "tokenizer.ggml.pre" ? new GgufValue(GgufValueType.String, "deepseek-llm") : value);
                expected = "'deepseek-llm'";
                break;
            case "tokenizer-model":
                TinyGguf.Rewrite(source, gguf, (key, value) => key == "tokenizer.ggml.model" ? new GgufValue(GgufValueType.String, "bert") : value);
                break;
            default: // a --chat-template file using an unsupported construct
                File.Copy(source, gguf);
                string template = Path.Combine(_root, "src", "bad.jinja");
                await File.WriteAllTextAsync(template, "{% for m in messages %}{{ m.content | wordwrap(10) }}{% endfor %}");
                extra.AddRange(["--chat-template", template]);
                break;
        }

        string models = Path.Combine(_root, "models");
        var result = await CliProcess.RunAsync(["import", "--from", gguf, "--out", Path.Combine(models, "refused"), .. extra]);

        Assert.True(result.ExitCode == 2, result.Output);
        string error = Assert.Single(result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        output.WriteLine($"{refusal}: {error}");
        Assert.Contains(expected, error, StringComparison.Ordinal);
        if (refusal == "tensor-type")
        {
            Assert.Contains("token_embd.weight", error, StringComparison.Ordinal);
        }

        Assert.False(Directory.Exists(models) && Directory.EnumerateFileSystemEntries(models).Any(), $"{refusal}: something was written under {models}");
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }
}
