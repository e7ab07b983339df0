using System.Text.Json.Nodes;

namespace MoeServe.Text.Chat;

/// <summary>A parsed Jinja chat template. A small renderer (lexer, parser to a syntax tree, evaluator) for the subset
/// of Jinja that Hugging Face chat templates use, with transformers' settings (trim_blocks and lstrip_blocks on).
/// See docs/importing.md, "Chat templates", for the supported constructs.</summary>
public sealed class JinjaTemplate
{
    private readonly IReadOnlyList<Node> _program;

    private JinjaTemplate(string source, IReadOnlyList<Node> program)
    {
        Source = source;
        _program = program;
    }

    /// <summary>The template's text.</summary>
    public string Source { get; }

    /// <summary>Parses a template.</summary>
    /// <exception cref="JinjaUnsupportedException">It uses a construct the renderer does not implement.</exception>
    /// <exception cref="JinjaException">It is not valid Jinja.</exception>
    public static JinjaTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new JinjaTemplate(source, JinjaParser.Parse(source));
    }

    /// <summary>Renders with variables given as JSON values (objects keep their key order).</summary>
    /// <exception cref="JinjaRaisedException">The template called raise_exception.</exception>
    /// <exception cref="JinjaException">Rendering failed (e.g. an undefined value was used).</exception>
    public string Render(IReadOnlyDictionary<string, JsonNode?> variables)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var context = variables.ToDictionary(kv => kv.Key, kv => JinjaValues.FromJson(kv.Value), StringComparer.Ordinal);
        return new JinjaEvaluator(Source).Render(_program, context);
    }

    /// <summary>Renders with variables given as one JSON object, e.g.
    /// <c>{"messages": [...], "add_generation_prompt": true, "bos_token": "&lt;s&gt;"}</c>.</summary>
    public string Render(JsonObject variables)
    {
        ArgumentNullException.ThrowIfNull(variables);
        return Render(variables.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal));
    }
}
