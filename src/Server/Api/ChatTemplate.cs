using System.Text;

namespace MoeServe.Server.Api;

/// <summary>
/// Renders a conversation into the prompt text the model continues: each message as
/// "{RolePrefix}{content}{Separator}", then the assistant prefix the model answers after. The stop
/// strings (the next turn's prefixes) are added to every chat request, so the model's reply ends
/// where it would start speaking for the user.
/// </summary>
public sealed record ChatTemplate
{
    /// <summary>The plain-text template used when the model's manifest defines none.</summary>
    public static ChatTemplate Default { get; } = new();

    /// <summary>Prefix of a system message.</summary>
    public string System { get; init; } = "System: ";

    /// <summary>Prefix of a user message.</summary>
    public string User { get; init; } = "User: ";

    /// <summary>Prefix of an assistant message (and of the reply to generate).</summary>
    public string Assistant { get; init; } = "Assistant:";

    /// <summary>Text after each message.</summary>
    public string Separator { get; init; } = "\n";

    /// <summary>Strings that end the assistant's reply.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = ["\nUser:", "\nSystem:"];

    /// <summary>The prompt for <paramref name="turns"/>, ending with the assistant prefix.</summary>
    public string Render(IReadOnlyList<ChatTurn> turns)
    {
        ArgumentNullException.ThrowIfNull(turns);
        var text = new StringBuilder();
        foreach (var turn in turns)
        {
            text.Append(turn.Role switch
            {
                "system" => System,
                "assistant" => Assistant + " ",
                _ => User,
            });
            text.Append(turn.Text);
            text.Append(Separator);
        }

        text.Append(Assistant);
        return text.ToString();
    }
}
