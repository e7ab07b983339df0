using System.Text.Json.Nodes;
using MoeServe.Text.Chat;

namespace MoeServe.Text.Tests.Chat;

/// <summary>The renderer on its own (no Node): Python Jinja's behaviours where transformers.js differs, errors and
/// unsupported constructs, and the published templates' key outputs.</summary>
public sealed class JinjaTemplateTests
{
    private static string Render(string template, string contextJson = "{}") =>
        JinjaTemplate.Parse(template).Render(JsonNode.Parse(contextJson)!.AsObject());

    [Theory]
    [InlineData("{{ true }}|{{ false }}|{{ none }}", "True|False|None")]
    [InlineData("{{ [1, 'a', none, true] }}", "[1, 'a', None, True]")]
    [InlineData("{{ 'xxhixx'.strip('x') }}|{{ '--a--'.lstrip('-') }}|{{ '--a--'.rstrip('-') }}", "hi|a--|--a")]
    [InlineData("{% for x in missing %}never{% else %}empty{% endfor %}", "empty")]
    [InlineData("{{ missing | length }}|{{ missing | d('d') }}", "0|d")]
    [InlineData("{{ 'a' < 'b' }}{{ 'abc' | list | length }}", "True3")]
    [InlineData("{{ n is equalto 7 }}{{ n is equalto(7) }}{{ n is divisibleby 7 }}", "TrueTrueTrue")]
    [InlineData("{{ -7 % 3 }}|{{ -7 // 2 }}|{{ 7 / 2 }}|{{ 2.0 }}", "2|-4|3.5|2.0")]
    [InlineData("{{ {'items': 1}['items'] }}|{{ {'a': 1}.items() | list | length }}", "1|1")]
    [InlineData("{{ 'a,b,c'.split(',', 1) }}", "['a', 'b,c']")]
    [InlineData("{{ {'a': {'b': [1, {'c': 2}]}} | tojson }}", "{\"a\": {\"b\": [1, {\"c\": 2}]}}")]
    [InlineData("{% macro m(x) %}[{{ x }}]{% endmacro %}{{ m(1) ~ m('y') }}", "[1][y]")]
    public void Render_FollowsPythonJinja(string template, string expected) =>
        Assert.Equal(expected, Render(template, """{"n": 7}"""));

    [Fact]
    public void Render_TrimBlocksAndLstripBlocks_AsTransformersSetsThem()
    {
        const string template = "{% for m in messages %}\n    {% if m %}\n        <{{ m }}>\n    {% endif %}\n{% endfor %}\nend\n";
        Assert.Equal("        <a>\n        <b>\nend", Render(template, """{"messages": ["a", "b"]}"""));
    }

    [Fact]
    public void Render_Tojson_IsPythonJsonDumpsWithoutAsciiEscaping()
    {
        const string context = """{"v": {"s": "ü \"q\"\n", "n": [1, 2.5, true, null], "e": {}}}""";
        Assert.Equal("""{"s": "ü \"q\"\n", "n": [1, 2.5, true, null], "e": {}}""", Render("{{ v | tojson }}", context));
        Assert.Equal("{\n  \"s\": \"ü \\\"q\\\"\\n\",\n  \"n\": [\n    1,\n    2.5,\n    true,\n    null\n  ],\n  \"e\": {}\n}", Render("{{ v | tojson(indent=2) }}", context));
    }

    [Fact]
    public void Render_RaiseException_IsJinjaRaisedExceptionWithTheTemplatesMessage()
    {
        var e = Assert.Throws<JinjaRaisedException>(() => Render("{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"));
        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", e.Message);
    }

    [Theory]
    [InlineData("a\n{% include 'x.jinja' %}", "statement 'include'", 2, 4)]
    [InlineData("{{ x | wordwrap }}", "filter 'wordwrap'", 1, 8)]
    [InlineData("{% if x is escaped %}{% endif %}", "test 'escaped'", 1, 12)]
    [InlineData("{{ x.format(1) }}", "method 'format'", 1, 6)]
    [InlineData("{{ strftime_now('%Y') }}", "function 'strftime_now'", 1, 4)]
    [InlineData("{% extends 'base' %}", "statement 'extends'", 1, 4)]
    public void Parse_UnsupportedConstruct_NamesItAndItsPosition(string template, string construct, int line, int column)
    {
        var e = Assert.Throws<JinjaUnsupportedException>(() => JinjaTemplate.Parse(template));
        Assert.Equal(construct, e.Construct);
        Assert.Equal((line, column), (e.Line, e.Column));
        Assert.Contains(construct, e.Message, StringComparison.Ordinal);
        Assert.Contains($"line {line}, column {column}", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{% if x %}", "expected 'elif' or 'else' or 'endif'")]
    [InlineData("{{ 'open }}", "unterminated string literal")]
    [InlineData("{{ x ", "unterminated tag")]
    public void Parse_InvalidTemplate_IsJinjaException(string template, string message)
    {
        var e = Assert.Throws<JinjaException>(() => JinjaTemplate.Parse(template));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_AttributeOfUndefined_IsAnErrorNamingIt()
    {
        var e = Assert.Throws<JinjaException>(() => Render("{{ message.content }}"));
        Assert.Contains("'message' is undefined", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_Qwen3_EnableThinkingFalse_AddsAnEmptyThinkBlock()
    {
        var template = JinjaTemplate.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "chat-templates", "qwen3.jinja")));
        var context = ChatTemplateContext.Build([new("user", "Hi")], addGenerationPrompt: true, bosToken: null, eosToken: "<|im_end|>", enableThinking: false);
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n", template.Render(context));
    }

    [Fact]
    public void Render_Mixtral_WritesInstBlocks()
    {
        var template = JinjaTemplate.Parse(BuiltInChatTemplates.MistralInst);
        var context = ChatTemplateContext.Build([new("user", "Hi"), new("assistant", "Hello"), new("user", "Bye")], true, "<s>", "</s>");
        Assert.Equal("<s>[INST] Hi [/INST]Hello</s>[INST] Bye [/INST]", template.Render(context));
    }
}
