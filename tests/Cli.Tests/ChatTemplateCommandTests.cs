using System.Text.Json.Nodes;
using MoeServe.Cli.Tests.Support;
using MoeServe.TestSupport;

namespace MoeServe.Cli.Tests;

public sealed class ChatTemplateCommandTests : IDisposable
{
    private const string Qwen2 =
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "moeserve-cli-chat-" + Guid.NewGuid().ToString("N"));
    private readonly string _messages;

    public ChatTemplateCommandTests()
    {
        Directory.CreateDirectory(_dir);
        _messages = Path.Combine(_dir, "messages.json");
        File.WriteAllText(_messages, """[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}]""");
        File.WriteAllText(Path.Combine(_dir, "config.json"), """{"model_type": "qwen2_moe"}""");
    }

    private void WriteTokenizerConfig(JsonNode? chatTemplate) =>
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), new JsonObject { ["chat_template"] = chatTemplate, ["eos_token"] = "<|im_end|>", ["bos_token"] = null }.ToJsonString());

    [Fact]
    public async Task Render_HuggingFaceDirectory_PrintsThePromptAndNamesTheTemplate()
    {
        WriteTokenizerConfig(Qwen2);

        var result = await CliProcess.RunAsync("chat-template", "render", "--from", _dir, "--messages", _messages);

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Equal("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n", result.StandardOutput);
        Assert.Contains("chat template: the model's shipped template", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Render_TemplateListAndNoGenerationPrompt_UsesTheDefaultEntry()
    {
        WriteTokenizerConfig(new JsonArray(
            new JsonObject { ["name"] = "tool_use", ["template"] = "TOOLS" },
            new JsonObject { ["name"] = "default", ["template"] = Qwen2 }));

        var result = await CliProcess.RunAsync("chat-template", "render", "--from", Path.Combine(_dir, "tokenizer_config.json"), "--messages", _messages, "--no-generation-prompt");

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.EndsWith("<|im_start|>user\nBye<|im_end|>\n", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Render_UnsupportedShippedTemplate_FallsBackAndSaysWhy()
    {
        WriteTokenizerConfig("{% for m in messages %}{{ m.content | wordwrap(10) }}{% endfor %}");

        var result = await CliProcess.RunAsync("chat-template", "render", "--from", _dir, "--messages", _messages);

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("built-in 'chatml-qwen2'", result.StandardError, StringComparison.Ordinal);
        Assert.Contains("filter 'wordwrap' (line 1, column 39)", result.StandardError, StringComparison.Ordinal);
        Assert.StartsWith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Render_UserTemplate_OverridesTheShippedOne()
    {
        WriteTokenizerConfig(Qwen2);
        string mine = Path.Combine(_dir, "mine.jinja");
        File.WriteAllText(mine, "{% for m in messages %}{{ m.role }}={{ m.content }};{% endfor %}");

        var result = await CliProcess.RunAsync("chat-template", "render", "--from", _dir, "--messages", _messages, "--chat-template", mine);

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Equal("user=Hi;assistant=Hello;user=Bye;", result.StandardOutput);
    }

    [Theory]
    [InlineData("--bogus", "'--bogus'")]
    [InlineData("--messages", "--messages")]
    public async Task Render_BadFlags_Exit2NamingTheFlag(string flag, string named)
    {
        WriteTokenizerConfig(Qwen2);
        string[] args = flag == "--bogus"
            ? ["chat-template", "render", "--from", _dir, "--messages", _messages, "--bogus"]
            : ["chat-template", "render", "--from", _dir, "--messages", Path.Combine(_dir, "missing.json")];

        var result = await CliProcess.RunAsync(args);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(named, result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Render_Gguf_UsesItsTokenizerChatTemplate()
    {
        // The tiny GGUF ships ChatML (no default system prompt) in tokenizer.chat_template.
        var (gguf, _) = TinyGguf.Write(HfFamily.Qwen2Moe, Path.Combine(_dir, "gguf"), seed: 1);

        var result = await CliProcess.RunAsync("chat-template", "render", "--from", gguf, "--messages", _messages);

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n", result.StandardOutput);
        Assert.Contains("chat template: the model's shipped template", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Render_GgufWithoutTemplate_FallsBackToTheArchitecturesFamily()
    {
        // qwen2moe maps to qwen2_moe, whose built-in adds Qwen2's default system prompt.
        var (gguf, _) = TinyGguf.Write(HfFamily.Qwen2Moe, Path.Combine(_dir, "gguf"), seed: 1, chatTemplate: "");

        var result = await CliProcess.RunAsync("chat-template", "render", "--from", gguf, "--messages", _messages);

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.StartsWith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("built-in 'chatml-qwen2' (the model ships none)", result.StandardError, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
