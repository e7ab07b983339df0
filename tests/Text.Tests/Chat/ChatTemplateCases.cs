using System.Text.Json.Nodes;

namespace MoeServe.Text.Tests.Chat;

/// <summary>One rendering to compare: a published template file (tests/data/chat-templates) and its variables.</summary>
internal sealed record ChatTemplateCase(string Id, string TemplateFile, string ContextJson)
{
    public string Template => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "chat-templates", TemplateFile));

    public JsonObject Context => JsonNode.Parse(ContextJson)!.AsObject();

    public override string ToString() => Id;
}

/// <summary>The conversations every family template is rendered with, and the Qwen3-only ones (thinking, tools).</summary>
internal static class ChatTemplateCases
{
    private const string SystemUser = """
        [{"role": "system", "content": "You are a terse assistant."},
         {"role": "user", "content": "What is 2+2?"}]
        """;

    private const string UserOnly = """
        [{"role": "user", "content": "Hello!"}]
        """;

    private const string MultiTurn = """
        [{"role": "user", "content": "Name a prime."},
         {"role": "assistant", "content": "7"},
         {"role": "user", "content": "Another one?"}]
        """;

    private const string MultiTurnWithSystemEndingInAssistant = """
        [{"role": "system", "content": "Answer in French."},
         {"role": "user", "content": "Hi"},
         {"role": "assistant", "content": "Bonjour !"},
         {"role": "user", "content": "How are you?"},
         {"role": "assistant", "content": "Très bien, merci."}]
        """;

    private const string Awkward = """
        [{"role": "user", "content": "  Quotes ' \" and \\ backslash,\n\ttabs, emoji 🦀, 日本語, and {{ braces }} {% tags %}\n"},
         {"role": "assistant", "content": "Noted: <b>markup</b> & entities &amp;"},
         {"role": "user", "content": ""}]
        """;

    private const string Tools = """
        [{"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name, e.g. Zürich"},
          "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}},
         {"type": "function", "function": {"name": "add", "description": "Adds two integers",
          "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}}}]
        """;

    private const string ToolCallConversation = """
        [{"role": "system", "content": "You can call tools."},
         {"role": "user", "content": "Weather in Paris and 2+3?"},
         {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}},
            {"type": "function", "function": {"name": "add", "arguments": {"a": 2, "b": 3}}}]},
         {"role": "tool", "content": "{\"temperature\": 18, \"sky\": \"cloudy\"}"},
         {"role": "tool", "content": "5"},
         {"role": "assistant", "content": "It is 18 °C and cloudy in Paris; 2+3 = 5."}]
        """;

    private const string ToolCallStringArguments = """
        [{"role": "user", "content": "Add 40 and 2."},
         {"role": "assistant", "content": "Let me add them.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{\"a\": 40, \"b\": 2}"}}]},
         {"role": "tool", "content": "42"}]
        """;

    private const string Reasoning = """
        [{"role": "user", "content": "Is 91 prime?"},
         {"role": "assistant", "content": "No: 91 = 7 × 13.", "reasoning_content": "Try small divisors.\n7 × 13 = 91."},
         {"role": "user", "content": "And 97?"},
         {"role": "assistant", "content": "Yes, 97 is prime.", "reasoning_content": "No divisor up to 9 works."}]
        """;

    private const string InlineThink = """
        [{"role": "user", "content": "Capital of Italy?"},
         {"role": "assistant", "content": "<think>\nEasy one.\n</think>\n\nRome."},
         {"role": "user", "content": "And of Spain?"},
         {"role": "assistant", "content": "<think>\nAlso easy.\n</think>\n\nMadrid."}]
        """;

    private const string ToolResponseAsUser = """
        [{"role": "user", "content": "First question"},
         {"role": "assistant", "content": "First answer"},
         {"role": "user", "content": "<tool_response>\nresult\n</tool_response>"},
         {"role": "assistant", "content": "Second answer", "reasoning_content": "thinking after a tool response"}]
        """;

    private static string Context(string messages, bool generationPrompt, string bos, string eos, string extra = "") =>
        $$"""{"messages": {{messages}}, "add_generation_prompt": {{(generationPrompt ? "true" : "false")}}, "bos_token": {{bos}}, "eos_token": {{eos}}{{extra}}}""";

    private static IEnumerable<ChatTemplateCase> Common(string family, string file, string bos, string eos)
    {
        yield return new($"{family}/system-user", file, Context(SystemUser, true, bos, eos));
        yield return new($"{family}/system-user-no-generation-prompt", file, Context(SystemUser, false, bos, eos));
        yield return new($"{family}/user-only", file, Context(UserOnly, true, bos, eos));
        yield return new($"{family}/multi-turn", file, Context(MultiTurn, true, bos, eos));
        yield return new($"{family}/multi-turn-ends-with-assistant", file, Context(MultiTurnWithSystemEndingInAssistant, false, bos, eos));
        yield return new($"{family}/awkward-text", file, Context(Awkward, true, bos, eos));
        yield return new($"{family}/tool-messages", file, Context(ToolCallConversation, true, bos, eos));
    }

    public static IReadOnlyList<ChatTemplateCase> All { get; } = Build();

    private static List<ChatTemplateCase> Build()
    {
        const string qwen3 = "qwen3.jinja";
        var cases = new List<ChatTemplateCase>();
        cases.AddRange(Common("qwen3", qwen3, "null", "\"<|im_end|>\""));
        cases.AddRange(
        [
            new("qwen3/enable-thinking-false", qwen3, Context(MultiTurn, true, "null", "\"<|im_end|>\"", ", \"enable_thinking\": false")),
            new("qwen3/enable-thinking-true", qwen3, Context(MultiTurn, true, "null", "\"<|im_end|>\"", ", \"enable_thinking\": true")),
            new("qwen3/tools", qwen3, Context(UserOnly, true, "null", "\"<|im_end|>\"", $", \"tools\": {Tools}")),
            new("qwen3/tools-with-system", qwen3, Context(SystemUser, true, "null", "\"<|im_end|>\"", $", \"tools\": {Tools}")),
            new("qwen3/tool-calls-and-results", qwen3, Context(ToolCallConversation, true, "null", "\"<|im_end|>\"", $", \"tools\": {Tools}")),
            new("qwen3/tool-call-string-arguments", qwen3, Context(ToolCallStringArguments, true, "null", "\"<|im_end|>\"", $", \"tools\": {Tools}, \"enable_thinking\": false")),
            new("qwen3/reasoning-content", qwen3, Context(Reasoning, false, "null", "\"<|im_end|>\"")),
            new("qwen3/reasoning-content-then-prompt", qwen3, Context(Reasoning, true, "null", "\"<|im_end|>\"")),
            new("qwen3/inline-think", qwen3, Context(InlineThink, false, "null", "\"<|im_end|>\"")),
            new("qwen3/tool-response-as-user", qwen3, Context(ToolResponseAsUser, false, "null", "\"<|im_end|>\"")),
            new("qwen3/extra-kwargs-ignored", qwen3, Context(UserOnly, true, "null", "\"<|im_end|>\"", ", \"custom_flag\": true, \"date_string\": \"02 Dec 2026\"")),
        ]);
        cases.AddRange(Common("qwen2-moe", "qwen2-moe.jinja", "null", "\"<|im_end|>\""));
        cases.AddRange(Common("olmoe-tulu", "tulu.jinja", "\"<|endoftext|>\"", "\"<|endoftext|>\""));

        // Other published templates (llama.cpp's tests/test-chat-template.cpp): the common conversations, where a
        // template's own raise_exception (system or tool roles) must give the same message.
        foreach (var (name, otherBos, otherEos) in new[]
        {
            ("deepseek-v2", "\"<｜begin▁of▁sentence｜>\"", "\"<｜end▁of▁sentence｜>\""),
            ("gemma-7b-it", "\"<bos>\"", "\"<eos>\""),
            ("llama-3", "\"<|begin_of_text|>\"", "\"<|eot_id|>\""),
            ("phi-3-small", "\"<|endoftext|>\"", "\"<|endoftext|>\""),
            ("mistral-v1", "\"<s>\"", "\"</s>\""),
            ("mistral-v7", "\"<s>\"", "\"</s>\""),
            ("command-r-plus", "\"<BOS_TOKEN>\"", "\"<|END_OF_TURN_TOKEN|>\""),
        })
        {
            cases.AddRange(Common($"other/{name}", $"other/{name}.jinja", otherBos, otherEos));
        }

        const string mixtral = "mixtral-8x7b-instruct-v0.1.jinja";
        const string bos = "\"<s>\"", eos = "\"</s>\"";
        cases.AddRange(
        [
            new("mixtral/user-only", mixtral, Context(UserOnly, true, bos, eos)),
            new("mixtral/multi-turn", mixtral, Context(MultiTurn, true, bos, eos)),
            new("mixtral/multi-turn-no-generation-prompt", mixtral, Context(MultiTurn, false, bos, eos)),
            new("mixtral/awkward-text", mixtral, Context(Awkward, true, bos, eos)),
            new("mixtral/system-rejected", mixtral, Context(SystemUser, true, bos, eos)),
            new("mixtral/roles-not-alternating", mixtral, Context("""[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]""", true, bos, eos)),
            new("mixtral/tool-role-rejected", mixtral, Context("""[{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}]""", true, bos, eos)),
        ]);
        return cases;
    }
}
