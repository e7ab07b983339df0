using MoeServe.Model;
using MoeServe.Text.Chat;

namespace MoeServe.Server.Api;

/// <summary>
/// Turns chat messages into the prompt text and the stop strings of its replies: the manifest's Jinja chat template
/// when it has one (the chat endpoint renders with add_generation_prompt true; /tokenize lets the client choose), else its simple <see cref="ChatTemplate"/>, exactly as before.
/// </summary>
public sealed class ChatPrompt
{
    private readonly ChatTemplate _simple;
    private readonly JinjaTemplate? _jinja;
    private readonly ManifestJinjaChatTemplate? _settings;

    private ChatPrompt(ChatTemplate simple, JinjaTemplate? jinja, ManifestJinjaChatTemplate? settings, IReadOnlyList<string> stops)
    {
        _simple = simple;
        _jinja = jinja;
        _settings = settings;
        StopStrings = stops;
    }

    /// <summary>Stop strings every chat reply gets.</summary>
    public IReadOnlyList<string> StopStrings { get; }

    /// <summary>Whether the Jinja template is in use.</summary>
    public bool UsesJinja => _jinja is not null;

    /// <summary>One line for the start-up log.</summary>
    public string Description => _jinja is null
        ? "chat template: the manifest's simple chatTemplate"
        : $"chat template: the manifest's jinjaChatTemplate (stop strings: {string.Join(", ", StopStrings.Select(s => $"\"{s}\""))})";

    /// <summary>Reads the manifest's templates; parses the Jinja one.</summary>
    /// <exception cref="JinjaException">The Jinja template does not parse or uses an unsupported construct.</exception>
    public static ChatPrompt For(ModelManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.JinjaChatTemplate is not { } settings)
        {
            return new ChatPrompt(manifest.ChatTemplate, null, null, manifest.ChatTemplate.StopSequences);
        }

        var template = JinjaTemplate.Parse(settings.Template);
        var stops = settings.StopStrings ?? ChatTemplateSelector.StopStringsFor(settings.Template, settings.EosToken);
        return new ChatPrompt(manifest.ChatTemplate, template, settings, stops);
    }

    /// <summary>The prompt text for the messages.</summary>
    /// <param name="messages">The conversation.</param>
    /// <param name="addGenerationPrompt">End with the assistant's turn opener (the chat endpoint always does).</param>
    /// <exception cref="JinjaRaisedException">The template rejected the conversation (e.g. roles not alternating).</exception>
    /// <exception cref="JinjaException">Rendering failed.</exception>
    public string Render(IReadOnlyList<ChatTurn> messages, bool addGenerationPrompt = true)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (_jinja is null)
        {
            return _simple.Render(messages.Select(m => (m.Role, m.Text)), addGenerationPrompt);
        }

        var context = ChatTemplateContext.Build(
            messages.Select(m => new ChatTemplateMessage(m.Role, m.Text)),
            addGenerationPrompt,
            _settings!.BosToken,
            _settings.EosToken);
        return _jinja.Render(context);
    }
}
