using System.Text.Json;
using System.Text.Json.Nodes;

using MoeServe.Text.HuggingFace;

namespace MoeServe.Text.Chat;

/// <summary>The chat template a model ships, with the token texts templates use and the model family (for the
/// fallback), as read from a model's files.</summary>
/// <param name="Template">The template text, or null when the model ships none.</param>
/// <param name="BosToken">bos_token's text, or null.</param>
/// <param name="EosToken">eos_token's text, or null.</param>
/// <param name="Family">mixtral, qwen2_moe, qwen3_moe, olmoe or moeserve (a Hugging Face model_type), or null when unknown.</param>
/// <param name="Origin">The file it came from, for messages.</param>
public sealed record ShippedChatTemplate(string? Template, string? BosToken, string? EosToken, string? Family, string Origin)
{
    /// <summary>A template with bos_token and eos_token taken from a tokenizer_config.json object: both readers
    /// go through here, so a GGUF's template renders with the same token texts as the Hugging Face files'.</summary>
    public static ShippedChatTemplate WithTokensOf(JsonObject tokenizerConfig, string? template, string? family, string origin) => new(
        template,
        ChatTemplateSelector.TokenFromTokenizerConfig(tokenizerConfig, "bos_token"),
        ChatTemplateSelector.TokenFromTokenizerConfig(tokenizerConfig, "eos_token"),
        family,
        origin);
}

/// <summary>Reads the shipped chat template of one kind of model path. Readers are tried in order
/// (<see cref="ShippedChatTemplates.Readers"/>): Hugging Face files, then GGUF (<see cref="GgufChatTemplateReader"/>).</summary>
public interface IShippedChatTemplateReader
{
    /// <summary>Whether this reader understands the path (a directory or a file).</summary>
    bool CanRead(string path);

    /// <summary>Reads the template.</summary>
    /// <exception cref="InvalidDataException">The files are malformed.</exception>
    ShippedChatTemplate Read(string path);
}

/// <summary>A Hugging Face model directory or its tokenizer_config.json: chat_template (a string, or a list of
/// {name, template} of which "default" is used), a chat_template.jinja file beside it (newer transformers save
/// it there), bos_token and eos_token (strings or {"content": ...}), and config.json's model_type as the family.</summary>
public sealed class HuggingFaceChatTemplateReader : IShippedChatTemplateReader
{
    /// <summary>tokenizer_config.json.</summary>
    public const string TokenizerConfigFileName = HuggingFaceTokenizerLoader.TokenizerConfigFileName;

    /// <summary>chat_template.jinja.</summary>
    public const string ChatTemplateFileName = "chat_template.jinja";

    /// <inheritdoc />
    public bool CanRead(string path) =>
        (File.Exists(path) && Path.GetFileName(path) == TokenizerConfigFileName)
        || (Directory.Exists(path) && (File.Exists(Path.Combine(path, TokenizerConfigFileName)) || File.Exists(Path.Combine(path, ChatTemplateFileName))));

    /// <inheritdoc />
    public ShippedChatTemplate Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string directory = File.Exists(path) ? Path.GetDirectoryName(Path.GetFullPath(path))! : path;
        string configPath = File.Exists(path) ? path : Path.Combine(directory, TokenizerConfigFileName);
        JsonObject config = File.Exists(configPath) ? ReadObject(configPath) : [];
        string? template = ChatTemplateSelector.FromTokenizerConfig(config);
        string origin = configPath;
        string jinjaPath = Path.Combine(directory, ChatTemplateFileName);
        if (template is null && File.Exists(jinjaPath))
        {
            template = File.ReadAllText(jinjaPath);
            origin = jinjaPath;
        }

        string modelConfigPath = Path.Combine(directory, HuggingFaceTokenizerLoader.ModelConfigFileName);
        string? family = File.Exists(modelConfigPath) && ReadObject(modelConfigPath)["model_type"] is JsonValue type && type.TryGetValue(out string? t) ? t : null;
        return ShippedChatTemplate.WithTokensOf(config, template, family, origin);
    }

    private static JsonObject ReadObject(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path} is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e);
        }
    }
}

/// <summary>The registered readers of shipped chat templates.</summary>
public static class ShippedChatTemplates
{
    /// <summary>Readers tried in order: a Hugging Face directory or tokenizer_config.json, then a GGUF file.</summary>
    public static IList<IShippedChatTemplateReader> Readers { get; } = new List<IShippedChatTemplateReader> { new HuggingFaceChatTemplateReader(), new GgufChatTemplateReader() };

    /// <summary>Reads the path with the first reader that understands it.</summary>
    /// <exception cref="FileNotFoundException">The path does not exist.</exception>
    /// <exception cref="NotSupportedException">No reader understands it.</exception>
    public static ShippedChatTemplate Read(string path, IEnumerable<IShippedChatTemplateReader>? readers = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path) && !Directory.Exists(path))
        {
            throw new FileNotFoundException($"'{path}' does not exist.", path);
        }

        var reader = (readers ?? Readers).FirstOrDefault(r => r.CanRead(path))
            ?? throw new NotSupportedException($"'{path}' is not a model this command can read a chat template from (a Hugging Face directory, its tokenizer_config.json, or a GGUF file).");
        return reader.Read(path);
    }
}
