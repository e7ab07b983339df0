using System.Text.Json.Nodes;

namespace MoeServe.Text.Chat;

/// <summary>One chat message as templates see it: role and content, plus the optional OpenAI-style
/// <c>tool_calls</c> (a JSON array) and <c>reasoning_content</c>.</summary>
/// <param name="Role">system, user, assistant or tool.</param>
/// <param name="Content">The text (null for an assistant message that only calls tools).</param>
/// <param name="ToolCalls">[{"type": "function", "function": {"name": ..., "arguments": {...}}}], or null.</param>
/// <param name="ReasoningContent">The assistant's thinking, rendered by templates such as Qwen3's, or null.</param>
public sealed record ChatTemplateMessage(string Role, string? Content, JsonArray? ToolCalls = null, string? ReasoningContent = null);

/// <summary>Builds the variables transformers' apply_chat_template passes to a template.</summary>
public static class ChatTemplateContext
{
    /// <summary>The variables: messages, add_generation_prompt, bos_token, eos_token, and when given tools,
    /// enable_thinking and any extra keyword arguments (which never override the named ones).</summary>
    public static JsonObject Build(
        IEnumerable<ChatTemplateMessage> messages,
        bool addGenerationPrompt,
        string? bosToken,
        string? eosToken,
        JsonArray? tools = null,
        bool? enableThinking = null,
        IReadOnlyDictionary<string, JsonNode?>? extra = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = new JsonArray();
        foreach (var m in messages)
        {
            var message = new JsonObject { ["role"] = m.Role, ["content"] = m.Content };
            if (m.ToolCalls is not null)
            {
                message["tool_calls"] = m.ToolCalls.DeepClone();
            }

            if (m.ReasoningContent is not null)
            {
                message["reasoning_content"] = m.ReasoningContent;
            }

            list.Add(message);
        }

        var context = new JsonObject();
        foreach (var (key, value) in extra ?? new Dictionary<string, JsonNode?>())
        {
            context[key] = value?.DeepClone();
        }

        context["messages"] = list;
        context["add_generation_prompt"] = addGenerationPrompt;
        context["bos_token"] = bosToken;
        context["eos_token"] = eosToken;
        if (tools is not null)
        {
            context["tools"] = tools.DeepClone();
        }

        if (enableThinking is bool thinking)
        {
            context["enable_thinking"] = thinking;
        }

        return context;
    }
}
