using System.Text.Json;
using System.Text.Json.Nodes;
using MoeServe.Model;
using MoeServe.Text.Chat;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>chat-template render --from PATH --messages FILE [--no-generation-prompt] [--chat-template FILE]</c>: renders a
/// conversation with the chat template a model ships (or the user's file, or the family's built-in when the shipped
/// one is unusable), printing the prompt text on stdout and which template was used on stderr.
/// </summary>
internal static class ChatTemplateCommand
{
    public static Command Create() => new("chat-template", "Render conversations with a model's chat template (Jinja).")
    {
        CreateRender(),
    };

    private static Command CreateRender()
    {
        var from = new Option<string>("--from") { Description = "A Hugging Face model directory, its tokenizer_config.json, a GGUF file (tokenizer.chat_template), or a MoeServe model directory (manifest.json)." };
        var messages = new Option<string>("--messages") { Description = "A JSON file: an array of {\"role\", \"content\"} messages." };
        var noGenerationPrompt = new Option<bool>("--no-generation-prompt") { Description = "Do not end with the assistant's turn opener (add_generation_prompt false)." };
        var template = new Option<string>("--chat-template") { Description = "A Jinja template file that overrides the model's." };
        var family = new Option<string>("--family") { Description = "Family for the fallback template (mixtral, qwen2_moe, qwen3_moe, olmoe, moeserve); default: config.json's model_type." };
        var command = new Command("render", "Print the prompt text a conversation renders to.") { from, messages, noGenerationPrompt, template, family };
        // Unknown flags reach the action (instead of System.CommandLine's exit code 1), which names them and exits 2.
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(parse =>
        {
            if (parse.UnmatchedTokens.Count > 0)
            {
                return CliErrors.Fail($"unknown option or argument '{parse.UnmatchedTokens[0]}' (see chat-template render --help)");
            }

            return Render(parse.GetValue(from), parse.GetValue(messages), !parse.GetValue(noGenerationPrompt), parse.GetValue(template), parse.GetValue(family));
        });
        return command;
    }

    private static int Render(string? from, string? messagesPath, bool addGenerationPrompt, string? templatePath, string? family)
    {
        if (string.IsNullOrWhiteSpace(from))
        {
            return CliErrors.Fail("--from is required: a Hugging Face model directory, its tokenizer_config.json, a GGUF file or a MoeServe model directory.");
        }

        if (string.IsNullOrWhiteSpace(messagesPath))
        {
            return CliErrors.Fail("--messages is required: a JSON file holding an array of {\"role\", \"content\"} messages.");
        }

        if (!File.Exists(messagesPath))
        {
            return CliErrors.Fail($"--messages: file '{messagesPath}' not found.");
        }

        if (templatePath is not null && !File.Exists(templatePath))
        {
            return CliErrors.Fail($"--chat-template: file '{templatePath}' not found.");
        }

        ShippedChatTemplate shipped;
        try
        {
            shipped = ShippedChatTemplates.Read(from, [new ManifestChatTemplateReader(), .. ShippedChatTemplates.Readers]);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or UnauthorizedAccessException)
        {
            return CliErrors.Fail("--from: " + e.Message);
        }

        List<ChatTemplateMessage> messages;
        try
        {
            messages = ReadMessages(messagesPath);
        }
        catch (Exception e) when (e is JsonException or InvalidDataException)
        {
            return CliErrors.Fail($"--messages: {messagesPath}: {e.Message}");
        }

        ChatTemplateSelection selection;
        try
        {
            string? userTemplate = templatePath is null ? null : File.ReadAllText(templatePath);
            selection = ChatTemplateSelector.Select(family ?? shipped.Family ?? "", shipped.Template, userTemplate, templatePath, shipped.EosToken);
        }
        catch (JinjaException e)
        {
            return CliErrors.Fail($"--chat-template: {templatePath}: {e.Message}");
        }
        catch (ArgumentException e)
        {
            return CliErrors.Fail($"--from: {shipped.Origin}: {e.Message}");
        }

        Console.Error.WriteLine(selection.Description);
        try
        {
            var context = ChatTemplateContext.Build(messages, addGenerationPrompt, shipped.BosToken, shipped.EosToken);
            Console.Out.Write(selection.Template.Render(context));
            Console.Out.Flush();
            return 0;
        }
        catch (JinjaRaisedException e)
        {
            Console.Error.WriteLine($"error: the template rejected the messages: {e.Message}");
            return 1;
        }
        catch (JinjaException e)
        {
            Console.Error.WriteLine($"error: rendering failed: {e.Message}");
            return 1;
        }
    }

    private static List<ChatTemplateMessage> ReadMessages(string path)
    {
        if (JsonNode.Parse(File.ReadAllText(path)) is not JsonArray array)
        {
            throw new InvalidDataException("expected a JSON array of {\"role\", \"content\"} messages.");
        }

        var messages = new List<ChatTemplateMessage>();
        for (int i = 0; i < array.Count; i++)
        {
            if (array[i] is not JsonObject m || m["role"] is not JsonValue role || !role.TryGetValue(out string? roleText))
            {
                throw new InvalidDataException($"message {i} needs a string \"role\".");
            }

            string? content = m["content"] switch
            {
                null => null,
                JsonValue v when v.TryGetValue(out string? text) => text,
                _ => throw new InvalidDataException($"message {i}: \"content\" must be a string or null."),
            };
            string? reasoning = m["reasoning_content"] is JsonValue r && r.TryGetValue(out string? rt) ? rt : null;
            messages.Add(new ChatTemplateMessage(roleText, content, m["tool_calls"] as JsonArray, reasoning));
        }

        return messages;
    }

    /// <summary>A MoeServe model directory: manifest.json's jinjaChatTemplate (family moeserve, so an unusable or
    /// missing one falls back to the simple format).</summary>
    private sealed class ManifestChatTemplateReader : IShippedChatTemplateReader
    {
        public bool CanRead(string path) => Directory.Exists(path) && File.Exists(Path.Combine(path, ModelManifest.FileName));

        public ShippedChatTemplate Read(string path)
        {
            string file = Path.Combine(path, ModelManifest.FileName);
            var manifest = ModelManifest.FromJson(File.ReadAllText(file), file);
            var jinja = manifest.JinjaChatTemplate;
            return new ShippedChatTemplate(jinja?.Template, jinja?.BosToken, jinja?.EosToken, ChatTemplateFamilies.MoeServe, file);
        }
    }
}
