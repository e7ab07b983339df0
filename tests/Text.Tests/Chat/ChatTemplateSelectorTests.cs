using System.Text.Json.Nodes;
using MoeServe.Text.Chat;

namespace MoeServe.Text.Tests.Chat;

public sealed class ChatTemplateSelectorTests
{
    private static string Published(string file) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "chat-templates", file));

    [Theory]
    [InlineData("qwen3.jinja", "qwen3_moe")]
    [InlineData("qwen2-moe.jinja", "qwen2_moe")]
    [InlineData("mixtral-8x7b-instruct-v0.1.jinja", "mixtral")]
    [InlineData("tulu.jinja", "olmoe")]
    public void Select_PublishedTemplate_IsUsedAsShipped(string file, string family)
    {
        var selection = ChatTemplateSelector.Select(family, Published(file));
        Assert.Equal(ChatTemplateSource.Shipped, selection.Source);
        Assert.Null(selection.FallbackReason);
        Assert.Equal("chat template: the model's shipped template", selection.Description);
    }

    [Theory]
    [InlineData("qwen3_moe", "chatml")]
    [InlineData("qwen2_moe", "chatml-qwen2")]
    [InlineData("mixtral", "mistral-inst")]
    [InlineData("olmoe", "tulu")]
    [InlineData("moeserve", "moeserve-simple")]
    public void Select_UnsupportedShippedTemplate_FallsBackToTheFamilysBuiltIn(string family, string name)
    {
        var selection = ChatTemplateSelector.Select(family, "{{ bos_token }}{% for m in messages %}{{ m.content | wordwrap }}{% endfor %}");
        Assert.Equal(ChatTemplateSource.BuiltIn, selection.Source);
        Assert.Equal(name, selection.Name);
        Assert.Contains("filter 'wordwrap'", selection.FallbackReason, StringComparison.Ordinal);
        Assert.Contains($"built-in '{name}'", selection.Description, StringComparison.Ordinal);
        Assert.Contains("(line 1, column ", selection.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Select_NoShippedTemplate_UsesTheBuiltInAndSaysSo()
    {
        var selection = ChatTemplateSelector.Select("qwen3_moe", null);
        Assert.Equal("chatml", selection.Name);
        Assert.Equal("chat template: built-in 'chatml' (the model ships none)", selection.Description);
        Assert.Equal(["<|im_end|>"], selection.StopStrings);
    }

    [Fact]
    public void Select_ShippedTemplateFailingOnAProbe_FallsBack()
    {
        var selection = ChatTemplateSelector.Select("olmoe", "{{ messages[0].content.nothing.deeper }}");
        Assert.Equal(ChatTemplateSource.BuiltIn, selection.Source);
        Assert.Contains("undefined", selection.FallbackReason, StringComparison.Ordinal);
    }

    [Fact]
    public void Select_UserTemplate_OverridesEverything()
    {
        var selection = ChatTemplateSelector.Select("qwen3_moe", Published("qwen3.jinja"), "{% for m in messages %}{{ m.content }}{% endfor %}", "mine.jinja");
        Assert.Equal(ChatTemplateSource.UserFile, selection.Source);
        Assert.Equal("chat template: user file 'mine.jinja'", selection.Description);
        Assert.Throws<JinjaUnsupportedException>(() => ChatTemplateSelector.Select("qwen3_moe", null, "{% include 'x' %}"));
    }

    [Fact]
    public void Select_UnknownFamilyWithoutUsableTemplate_Throws() =>
        Assert.Throws<ArgumentException>(() => ChatTemplateSelector.Select("gpt2", null));

    [Theory]
    [InlineData("qwen3.jinja", null, new[] { "<|im_end|>" })]
    [InlineData("mixtral-8x7b-instruct-v0.1.jinja", "</s>", new[] { "</s>" })]
    [InlineData("tulu.jinja", "<|endoftext|>", new[] { "<|endoftext|>" })]
    public void StopStringsFor_PublishedTemplates(string file, string? eos, string[] expected) =>
        Assert.Equal(expected, ChatTemplateSelector.StopStringsFor(Published(file), eos));

    [Fact]
    public void FromTokenizerConfig_StringOrNamedList()
    {
        Assert.Equal("A", ChatTemplateSelector.FromTokenizerConfig(JsonNode.Parse("""{"chat_template": "A"}""")!.AsObject()));
        var list = JsonNode.Parse("""{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}""")!.AsObject();
        Assert.Equal("D", ChatTemplateSelector.FromTokenizerConfig(list));
        Assert.Equal("T", ChatTemplateSelector.FromTokenizerConfig(list, "tool_use"));
        Assert.Null(ChatTemplateSelector.FromTokenizerConfig(JsonNode.Parse("{}")!.AsObject()));
        Assert.Equal("<s>", ChatTemplateSelector.TokenFromTokenizerConfig(JsonNode.Parse("""{"bos_token": {"content": "<s>"}}""")!.AsObject(), "bos_token"));
    }

    [Fact]
    public void MoeServeSimple_MatchesTheManifestsSimpleFormat()
    {
        var template = JinjaTemplate.Parse(BuiltInChatTemplates.MoeServeSimple);
        var context = ChatTemplateContext.Build([new("system", "S"), new("user", "U"), new("tool", "T")], true, null, null);
        Assert.Equal("System: S\n\nUser: U\n\ntool: T\n\nAssistant:", template.Render(context));
    }
}
