using System.Net;
using MoeServe.Model;
using MoeServe.Server.Api;
using MoeServe.Server.Tests.Support;

namespace MoeServe.Server.Tests.Integration;

/// <summary>A model directory whose manifest carries a jinjaChatTemplate: the chat endpoint renders it.</summary>
public sealed class JinjaChatTemplateTests
{
    private const string ChatML =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    private const string Inst =
        "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}";

    private static readonly Lazy<string> ChatMLModel = new(() => CopyWithTemplate(new ManifestJinjaChatTemplate { Template = ChatML, EosToken = "<|im_end|>" }));

    private static readonly Lazy<string> InstModel = new(() => CopyWithTemplate(new ManifestJinjaChatTemplate { Template = Inst, BosToken = "<s>", EosToken = "</s>" }));

    private static string CopyWithTemplate(ManifestJinjaChatTemplate template)
    {
        string target = Path.Combine(Path.GetTempPath(), "moeserve-server-tests", "jinja-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(target);
        foreach (string file in Directory.GetFiles(TinyServerModel.Path))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }

        var manifest = ModelManifest.FromJson(File.ReadAllText(Path.Combine(target, ModelManifest.FileName)));
        (manifest with { JinjaChatTemplate = template }).Save(target);
        return target;
    }

    [Fact]
    public async Task Chat_ManifestWithJinjaTemplate_RendersItWithTheGenerationPrompt()
    {
        await using var factory = new ServerFactory(new() { ["MoeServe:ModelPath"] = ChatMLModel.Value });
        using var client = await factory.CreateReadyClientAsync();
        var body = await Http.PostOkAsync(client, "/v1/chat/completions", """{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi there"}],"max_tokens":5,"temperature":0}""");

        // The tiny model's tokenizer has one token per byte.
        const string prompt = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n";
        Assert.Equal(prompt.Length, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.True(factory.Model.ChatPrompt.UsesJinja);
        Assert.Equal(["<|im_end|>"], factory.Model.ChatPrompt.StopStrings);
    }

    [Fact]
    public async Task Tokenize_JinjaTemplate_RendersWithOrWithoutTheGenerationPrompt()
    {
        await using var factory = new ServerFactory(new() { ["MoeServe:ModelPath"] = ChatMLModel.Value });
        using var client = await factory.CreateReadyClientAsync();
        const string messages = """[{"role":"user","content":"Hi there"}]""";
        const string conversation = "<|im_start|>user\nHi there<|im_end|>\n";

        foreach (var (flag, expected) in new[] { ("true", conversation + "<|im_start|>assistant\n"), ("false", conversation) })
        {
            var tokenized = await Http.PostOkAsync(client, "/tokenize", $$"""{"messages":{{messages}},"add_generation_prompt":{{flag}}}""");
            var tokens = tokenized.GetProperty("tokens").GetRawText();
            var detokenized = await Http.PostOkAsync(client, "/detokenize", $$"""{"tokens":{{tokens}}}""");

            Assert.Equal(expected, detokenized.GetProperty("prompt").GetString());
            Assert.Equal(expected.Length, tokenized.GetProperty("count").GetInt32()); // one token per byte, all ASCII
        }
    }

    [Fact]
    public async Task Chat_TemplateRaises_Is400WithTheTemplatesMessage()
    {
        await using var factory = new ServerFactory(new() { ["MoeServe:ModelPath"] = InstModel.Value });
        using var client = await factory.CreateReadyClientAsync();
        using var response = await client.PostAsync("/v1/chat/completions", new StringContent(
            """{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}],"max_tokens":5}""", System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        string text = await response.Content.ReadAsStringAsync();
        Assert.Contains("Conversation roles must alternate user/assistant/user/assistant/...", text, StringComparison.Ordinal);
        Assert.Contains("\"param\":\"messages\"", text, StringComparison.Ordinal);
    }

    [Fact]
    public void ChatPrompt_WithoutJinjaTemplate_IsTheSimpleTemplateAsBefore()
    {
        var manifest = ModelManifest.FromJson(File.ReadAllText(Path.Combine(TinyServerModel.Path, ModelManifest.FileName)));
        Assert.Null(manifest.JinjaChatTemplate);
        Assert.DoesNotContain("jinjaChatTemplate", manifest.ToJson(), StringComparison.Ordinal);
        var chat = ChatPrompt.For(manifest);
        Assert.False(chat.UsesJinja);
        Assert.Equal("System: S\n\nUser: U\n\nAssistant:", chat.Render([new ChatTurn("system", "S"), new ChatTurn("user", "U")]));
        Assert.Equal(manifest.ChatTemplate.StopSequences, chat.StopStrings);
    }

    [Fact]
    public void Manifest_JinjaChatTemplate_RoundTripsThroughJson()
    {
        var manifest = ModelManifest.FromJson(File.ReadAllText(Path.Combine(InstModel.Value, ModelManifest.FileName)));
        Assert.Equal(Inst, manifest.JinjaChatTemplate!.Template);
        Assert.Equal(("<s>", "</s>"), (manifest.JinjaChatTemplate.BosToken, manifest.JinjaChatTemplate.EosToken));
        Assert.Equal(["</s>"], ChatPrompt.For(manifest).StopStrings);
    }
}
