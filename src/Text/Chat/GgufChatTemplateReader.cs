using System.Text.Json.Nodes;
using MoeServe.Model.Gguf;
using MoeServe.Text.HuggingFace;

namespace MoeServe.Text.Chat;

/// <summary>
/// The chat template a GGUF file ships: its <c>tokenizer.chat_template</c> metadata, the bos/eos token texts as the
/// converted tokenizer_config.json names them (<see cref="GgufTokenizerConverter.ToTokenizerConfigJson"/>), and the
/// family from <c>general.architecture</c>. The one place that reads a GGUF's template: <c>chat-template render</c>
/// and the importer both use it.
/// </summary>
public sealed class GgufChatTemplateReader : IShippedChatTemplateReader
{
    /// <summary>The metadata key holding the template.</summary>
    public const string ChatTemplateKey = "tokenizer.chat_template";

    /// <inheritdoc />
    public bool CanRead(string path) =>
        File.Exists(path) && (path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) || GgufFile.HasMagic(path));

    /// <inheritdoc />
    public ShippedChatTemplate Read(string path)
    {
        using var file = GgufFile.Open(path);
        return Read(file);
    }

    /// <summary>Reads the template of an open GGUF file.</summary>
    /// <param name="file">The file.</param>
    public static ShippedChatTemplate Read(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        string? family = file.Architecture is { } architecture && GgufCheckpoint.SupportedArchitectures.TryGetValue(architecture, out string? modelType) ? modelType : null;
        var metadata = GgufTokenizerMetadata.FromFile(file);
        return FromMetadata(metadata, family, file.Path, metadata?.ChatTemplate ?? file.GetString(ChatTemplateKey));
    }

    /// <summary>The shipped template from GGUF tokenizer metadata already read.</summary>
    /// <param name="metadata">The tokenizer metadata, or null when the file has none.</param>
    /// <param name="family">The transformers model_type of the file's architecture, or null.</param>
    /// <param name="path">The GGUF file, named in messages.</param>
    /// <param name="template">The template text (default: <see cref="GgufTokenizerMetadata.ChatTemplate"/>).</param>
    public static ShippedChatTemplate FromMetadata(GgufTokenizerMetadata? metadata, string? family, string path, string? template = null)
    {
        template ??= metadata?.ChatTemplate;
        string origin = $"{path} ({ChatTemplateKey})";
        if (metadata is null)
        {
            return new ShippedChatTemplate(template, null, null, family, origin);
        }

        // The same token texts the imported tokenizer_config.json carries, so a template renders alike either way.
        var config = JsonNode.Parse(GgufTokenizerConverter.ToTokenizerConfigJson(metadata))!.AsObject();
        return ShippedChatTemplate.WithTokensOf(config, template, family, origin);
    }
}
