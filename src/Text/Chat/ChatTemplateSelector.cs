using System.Text.Json.Nodes;

namespace MoeServe.Text.Chat;

/// <summary>Where the template in use came from.</summary>
public enum ChatTemplateSource
{
    /// <summary>A template file the user supplied (overrides everything).</summary>
    UserFile,

    /// <summary>The template the model ships (tokenizer_config.json's chat_template, GGUF's tokenizer.chat_template,
    /// or the manifest's jinjaChatTemplate).</summary>
    Shipped,

    /// <summary>A built-in template of the model's family (<see cref="BuiltInChatTemplates"/>).</summary>
    BuiltIn,
}

/// <summary>The chosen template, why, and the stop strings it implies.</summary>
public sealed record ChatTemplateSelection
{
    /// <summary>The parsed template.</summary>
    public required JinjaTemplate Template { get; init; }

    /// <summary>Where it came from.</summary>
    public required ChatTemplateSource Source { get; init; }

    /// <summary>"shipped", the user's file name, or the built-in's name (chatml, chatml-qwen2, mistral-inst, tulu, moeserve-simple).</summary>
    public required string Name { get; init; }

    /// <summary>Why the shipped template was not used (null when it was, or when none was shipped).</summary>
    public string? FallbackReason { get; init; }

    /// <summary>Text that ends an assistant turn, implied by the template (e.g. &lt;|im_end|&gt; for ChatML).</summary>
    public required IReadOnlyList<string> StopStrings { get; init; }

    /// <summary>One line for the log, e.g. "chat template: built-in 'chatml' (the shipped template was not usable:
    /// unsupported Jinja construct: filter 'wordwrap' (line 3, column 9))".</summary>
    public string Description => Source switch
    {
        ChatTemplateSource.UserFile => $"chat template: user file '{Name}'",
        ChatTemplateSource.Shipped => "chat template: the model's shipped template",
        _ => FallbackReason is null
            ? $"chat template: built-in '{Name}' (the model ships none)"
            : $"chat template: built-in '{Name}' (the shipped template was not usable: {FallbackReason})",
    };
}

/// <summary>Chooses the chat template to render: a user-supplied file overrides everything; otherwise the model's
/// shipped template when it parses, uses only what <see cref="JinjaTemplate"/> supports and renders a probe
/// conversation; otherwise the family's built-in template (<see cref="BuiltInChatTemplates.ForFamily"/>).</summary>
public static class ChatTemplateSelector
{
    /// <summary>Selects the template.</summary>
    /// <param name="family">mixtral, qwen2_moe, qwen3_moe, olmoe or moeserve (<see cref="ChatTemplateFamilies"/>).</param>
    /// <param name="shippedTemplate">The model's own template text, or null.</param>
    /// <param name="userTemplate">The text of a user-supplied template file, or null.</param>
    /// <param name="userTemplateName">Names the user's file in <see cref="ChatTemplateSelection.Description"/>.</param>
    /// <param name="eosToken">The model's end-of-sequence token text, added to the stop strings when the template uses it.</param>
    /// <exception cref="JinjaException">The user's template does not parse (a user's choice is never replaced silently).</exception>
    /// <exception cref="ArgumentException">No usable template: the family is unknown and the shipped one is missing or unusable.</exception>
    public static ChatTemplateSelection Select(string family, string? shippedTemplate, string? userTemplate = null, string? userTemplateName = null, string? eosToken = null)
    {
        ArgumentNullException.ThrowIfNull(family);
        if (userTemplate is not null)
        {
            return new ChatTemplateSelection
            {
                Template = JinjaTemplate.Parse(userTemplate),
                Source = ChatTemplateSource.UserFile,
                Name = userTemplateName ?? "user template",
                StopStrings = StopStringsFor(userTemplate, eosToken),
            };
        }

        string? reason = null;
        if (!string.IsNullOrWhiteSpace(shippedTemplate))
        {
            reason = Check(shippedTemplate, out var template);
            if (reason is null)
            {
                return new ChatTemplateSelection
                {
                    Template = template!,
                    Source = ChatTemplateSource.Shipped,
                    Name = "shipped",
                    StopStrings = StopStringsFor(shippedTemplate, eosToken),
                };
            }
        }

        var builtIn = BuiltInChatTemplates.ForFamily(family)
            ?? throw new ArgumentException(
                $"No chat template for family '{family}': " + (reason is null ? "the model ships none" : $"the shipped one is not usable ({reason})") +
                $", and there is no built-in one for this family (known: {ChatTemplateFamilies.Mixtral}, {ChatTemplateFamilies.Qwen2Moe}, {ChatTemplateFamilies.Qwen3Moe}, {ChatTemplateFamilies.Olmoe}, {ChatTemplateFamilies.MoeServe}). Pass a template file.",
                nameof(family));
        return new ChatTemplateSelection
        {
            Template = JinjaTemplate.Parse(builtIn.Text),
            Source = ChatTemplateSource.BuiltIn,
            Name = builtIn.Name,
            FallbackReason = reason,
            StopStrings = StopStringsFor(builtIn.Text, eosToken),
        };
    }

    /// <summary>Null when the template is usable, else why not: it must parse with only supported constructs and
    /// render a user/assistant/user probe (a raise_exception of the template's own checks is fine).</summary>
    private static string? Check(string source, out JinjaTemplate? template)
    {
        template = null;
        try
        {
            template = JinjaTemplate.Parse(source);
            var probe = ChatTemplateContext.Build(
                [new("user", "Hello"), new("assistant", "Hi!"), new("user", "How are you?")],
                addGenerationPrompt: true,
                bosToken: "<s>",
                eosToken: "</s>");
            template.Render(probe);
            return null;
        }
        catch (JinjaRaisedException)
        {
            return null;
        }
        catch (JinjaException e)
        {
            template = null;
            return e.Message;
        }
    }

    /// <summary>The stop strings a template implies: the end-of-turn markers it writes (&lt;|im_end|&gt; for ChatML,
    /// &lt;|eot_id|&gt;, &lt;|end|&gt;) and the eos token when the template ends turns with eos_token.</summary>
    public static IReadOnlyList<string> StopStringsFor(string templateText, string? eosToken)
    {
        ArgumentNullException.ThrowIfNull(templateText);
        var stops = new List<string>();
        foreach (string marker in new[] { "<|im_end|>", "<|eot_id|>", "<|end|>" })
        {
            if (templateText.Contains(marker, StringComparison.Ordinal))
            {
                stops.Add(marker);
            }
        }

        if (!string.IsNullOrEmpty(eosToken) && templateText.Contains("eos_token", StringComparison.Ordinal) && !stops.Contains(eosToken))
        {
            stops.Add(eosToken);
        }

        return stops;
    }

    /// <summary>Reads the chat template of a Hugging Face tokenizer_config.json: "chat_template" is either a string
    /// or a list of {"name", "template"} (the one named <paramref name="name"/>, default "default"). Null when absent.</summary>
    public static string? FromTokenizerConfig(JsonObject tokenizerConfig, string name = "default")
    {
        ArgumentNullException.ThrowIfNull(tokenizerConfig);
        switch (tokenizerConfig["chat_template"])
        {
            case JsonValue value when value.TryGetValue(out string? text):
                return text;
            case JsonArray list:
                var named = list.OfType<JsonObject>()
                    .Select(o => (Name: o["name"]?.GetValue<string>(), Template: o["template"]?.GetValue<string>()))
                    .ToList();
                return named.FirstOrDefault(t => t.Name == name).Template
                    ?? (name == "default" && named.Count > 0 ? named[0].Template : null);
            default:
                return null;
        }
    }

    /// <summary>A token entry of tokenizer_config.json (bos_token, eos_token): a string or an {"content": ...} object.</summary>
    public static string? TokenFromTokenizerConfig(JsonObject tokenizerConfig, string key)
    {
        ArgumentNullException.ThrowIfNull(tokenizerConfig);
        return tokenizerConfig[key] switch
        {
            JsonValue value when value.TryGetValue(out string? text) => text,
            JsonObject obj => obj["content"]?.GetValue<string>(),
            _ => null,
        };
    }
}
