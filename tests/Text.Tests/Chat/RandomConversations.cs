using System.Text.Json.Nodes;

namespace MoeServe.Text.Tests.Chat;

/// <summary>Seeded random conversations for the differential test against @huggingface/jinja. Contents mix
/// Unicode, quotes, Jinja-looking text, tabs and inner newlines, but never start or end with whitespace: there
/// Python's strip('\n') (which MoeServe follows) and transformers.js's strip-everything differ by design.</summary>
internal static class RandomConversations
{
    private static readonly string[] Words =
    [
        "Hello", "wörld", "日本語", "🦀", "\"quoted\"", "'single'", "{{ not a tag }}", "{% nor this %}", "a\nb",
        "tab\there", "back\\slash", "<b>html</b>", "&amp;", "42", "-7.5", "null", "true", "ünïcödé", "end.",
    ];

    private static string Text(Random random)
    {
        int count = random.Next(1, 7);
        var parts = Enumerable.Range(0, count).Select(_ => Words[random.Next(Words.Length)]);
        string text = string.Join(random.Next(3) == 0 ? "\n" : " ", parts).Trim();
        return text.Length == 0 ? "x" : text;
    }

    private static JsonArray ToolCalls(Random random) => new(Enumerable.Range(0, random.Next(1, 3)).Select(i => (JsonNode)new JsonObject
    {
        ["type"] = "function",
        ["function"] = new JsonObject
        {
            ["name"] = i % 2 == 0 ? "get_weather" : "add",
            ["arguments"] = random.Next(2) == 0
                ? new JsonObject { ["city"] = Text(random), ["days"] = random.Next(1, 8), ["metric"] = random.Next(2) == 0 }
                : JsonValue.Create("{\"a\": 1, \"b\": [2, 3]}"),
        },
    }).ToArray());

    /// <summary>A conversation for a template family: "mixtral" alternates user/assistant strictly and has no
    /// system message; "qwen3" uses tools, tool calls, tool results and reasoning; the others plain roles.</summary>
    public static JsonObject Create(int seed, string family)
    {
        var random = new Random(seed);
        var messages = new JsonArray();
        bool qwen3 = family == "qwen3";
        if (family != "mixtral" && random.Next(2) == 0)
        {
            messages.Add(new JsonObject { ["role"] = "system", ["content"] = Text(random) });
        }

        int turns = random.Next(1, 5);
        for (int t = 0; t < turns; t++)
        {
            string user = qwen3 && random.Next(5) == 0 ? "<tool_response>\n" + Text(random) + "\n</tool_response>" : Text(random);
            messages.Add(new JsonObject { ["role"] = "user", ["content"] = user });
            if (t == turns - 1 && random.Next(2) == 0)
            {
                break; // end on the user's turn
            }

            var assistant = new JsonObject { ["role"] = "assistant" };
            if (qwen3 && random.Next(3) == 0)
            {
                assistant["content"] = random.Next(2) == 0 ? "" : Text(random);
                assistant["tool_calls"] = ToolCalls(random);
                messages.Add(assistant);
                for (int r = random.Next(1, 3); r > 0; r--)
                {
                    messages.Add(new JsonObject { ["role"] = "tool", ["content"] = Text(random) });
                }

                messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = Text(random) });
                continue;
            }

            assistant["content"] = qwen3 && random.Next(4) == 0 ? "<think>\n" + Text(random) + "\n</think>\n\n" + Text(random) : Text(random);
            if (qwen3 && random.Next(3) == 0)
            {
                assistant["reasoning_content"] = Text(random);
            }

            messages.Add(assistant);
        }

        var context = new JsonObject
        {
            ["messages"] = messages,
            ["add_generation_prompt"] = random.Next(2) == 0,
            ["bos_token"] = family == "qwen3" ? null : "<s>",
            ["eos_token"] = family == "qwen3" ? "<|im_end|>" : "</s>",
        };
        if (qwen3 && random.Next(2) == 0)
        {
            context["enable_thinking"] = random.Next(2) == 0;
        }

        if (qwen3 && random.Next(2) == 0)
        {
            context["tools"] = JsonNode.Parse("""
                [{"type": "function", "function": {"name": "get_weather", "description": "Weather \"now\"", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
                 {"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "array"}}}}}]
                """);
        }

        return context;
    }
}

/// <summary>200 random conversations per family template, rendered by both engines in one Node run.</summary>
[Trait("Tier", "External")]
public sealed class RandomConversationTests
{
    private static readonly (string Family, string File)[] Templates =
    [
        ("qwen3", "qwen3.jinja"), ("qwen2", "qwen2-moe.jinja"), ("mixtral", "mixtral-8x7b-instruct-v0.1.jinja"), ("olmoe", "tulu.jinja"),
    ];

    [Fact]
    public void RandomConversations_RenderIdenticallyToHuggingFaceJinja()
    {
        const int perTemplate = 200;
        var cases = new List<(string Name, string Template, JsonObject Context)>();
        foreach (var (family, file) in Templates)
        {
            string template = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "chat-templates", file));
            for (int seed = 0; seed < perTemplate; seed++)
            {
                cases.Add(($"{family} seed {seed}", template, RandomConversations.Create(seed, family)));
            }
        }

        var expected = HuggingFaceJinja.Render(cases.Select(c => (c.Template, c.Context)).ToList());
        var failures = new List<string>();
        for (int i = 0; i < cases.Count; i++)
        {
            var (name, template, context) = cases[i];
            string actual;
            try
            {
                actual = MoeServe.Text.Chat.JinjaTemplate.Parse(template).Render(context);
            }
            catch (Exception e) when (e is MoeServe.Text.Chat.JinjaException or MoeServe.Text.Chat.JinjaRaisedException)
            {
                actual = "error: " + e.Message;
            }

            string reference = expected[i].Error is { } error ? "error: " + error : expected[i].Text!;
            if (actual != reference)
            {
                failures.Add($"{name}:\n  ours: {System.Text.Json.JsonSerializer.Serialize(actual)}\n  hf:   {System.Text.Json.JsonSerializer.Serialize(reference)}\n  context: {context.ToJsonString()}");
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} differ; first:\n{string.Join("\n", failures.Take(3))}");
    }
}
