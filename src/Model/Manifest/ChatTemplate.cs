using System.Text;

namespace MoeServe.Model;

/// <summary>
/// A deliberately simple chat format for a small base model: each message becomes
/// "{Role}: {content}\n\n" and the prompt ends with the assistant prefix. Generation stops at
/// the next user turn or at end-of-text.
/// </summary>
public sealed record ChatTemplate
{
    /// <summary>Format of one message; {role} and {content} are replaced.</summary>
    public string MessageFormat { get; init; } = "{role}: {content}\n\n";

    /// <summary>Appended after the last message to make the model answer.</summary>
    public string AssistantPrefix { get; init; } = "Assistant:";

    /// <summary>Display names of roles (system, user, assistant).</summary>
    public IReadOnlyDictionary<string, string> RoleNames { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["system"] = "System",
        ["user"] = "User",
        ["assistant"] = "Assistant",
    };

    /// <summary>Text that ends an assistant turn besides the end-of-text token.</summary>
    public IReadOnlyList<string> StopSequences { get; init; } = ["\n\nUser:", "\nUser:"];

    /// <summary>Renders messages into the prompt text the model continues.</summary>
    /// <param name="messages">(role, content) pairs in order.</param>
    public string Render(IEnumerable<(string Role, string Content)> messages) => Render(messages, addAssistantPrefix: true);

    /// <summary>Renders messages; without <paramref name="addAssistantPrefix"/> the text ends after the last message.</summary>
    /// <param name="messages">(role, content) pairs in order.</param>
    /// <param name="addAssistantPrefix">End with <see cref="AssistantPrefix"/> (a Jinja template's add_generation_prompt).</param>
    public string Render(IEnumerable<(string Role, string Content)> messages, bool addAssistantPrefix)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var text = new StringBuilder();
        foreach (var (role, content) in messages)
        {
            string name = RoleNames.TryGetValue(role, out var display) ? display : role;
            text.Append(MessageFormat.Replace("{role}", name, StringComparison.Ordinal).Replace("{content}", content, StringComparison.Ordinal));
        }

        return (addAssistantPrefix ? text.Append(AssistantPrefix) : text).ToString();
    }
}
