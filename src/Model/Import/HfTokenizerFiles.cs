using System.Text.Json;
using System.Text.Json.Nodes;
using MoeServe.Model.Gguf;

namespace MoeServe.Model.Import;

/// <summary>
/// The importer's default <see cref="IImportTokenizerProvider"/>: a Hugging Face directory's tokenizer.json (and
/// tokenizer_config.json when present) copied as they are, with the special tokens and add_bos_token read from
/// them; no chat template. A GGUF's tokenizer must be converted, which src/Text does
/// (<c>MoeServe.Text.Import.ImportTokenizerProvider</c>), so a GGUF is refused here unless
/// <see cref="ImportOptions.TokenizerDirectory"/> names a tokenizer.json.
/// </summary>
public sealed class HfTokenizerFiles : IImportTokenizerProvider
{
    /// <summary>tokenizer.json.</summary>
    public const string TokenizerJson = "tokenizer.json";

    /// <summary>tokenizer_config.json.</summary>
    public const string TokenizerConfigJson = "tokenizer_config.json";

    /// <inheritdoc />
    public ImportTokenizer Prepare(IHfCheckpoint checkpoint, HfModelMapping mapping, ImportOptions options)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(mapping);
        ArgumentNullException.ThrowIfNull(options);
        if (checkpoint is GgufCheckpoint && options.TokenizerDirectory is null)
        {
            throw new UnsupportedCheckpointException(
                $"{checkpoint.Source}: a GGUF's tokenizer must be converted to tokenizer.json, which needs MoeServe.Text's ImportTokenizerProvider (the import command passes it).");
        }

        return FromFiles(Locate(checkpoint, options), mapping.Config.VocabSize);
    }

    /// <summary>The Hugging Face tokenizer files of the source: tokenizer.json and, when present, tokenizer_config.json.</summary>
    /// <param name="checkpoint">The checkpoint.</param>
    /// <param name="options">The options (<see cref="ImportOptions.TokenizerDirectory"/> first, else the source directory).</param>
    /// <exception cref="UnsupportedCheckpointException">There is no tokenizer.json.</exception>
    public static IReadOnlyList<ImportFile> Locate(IHfCheckpoint checkpoint, ImportOptions options)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(options);
        string directory = DirectoryOf(options);
        string tokenizerJson = Path.Combine(directory, TokenizerJson);
        string tokenizerConfig = Path.Combine(directory, TokenizerConfigJson);
        if (!File.Exists(tokenizerJson))
        {
            throw new UnsupportedCheckpointException($"missing tokenizer: {tokenizerJson} (a Hugging Face tokenizer.json is required)");
        }

        return File.Exists(tokenizerConfig)
            ? [new ImportFile(TokenizerJson, tokenizerJson), new ImportFile(TokenizerConfigJson, tokenizerConfig)]
            : [new ImportFile(TokenizerJson, tokenizerJson)];
    }

    /// <summary>The directory holding the source's tokenizer files.</summary>
    /// <param name="options">The import's options.</param>
    public static string DirectoryOf(ImportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.TokenizerDirectory
            ?? (System.IO.Directory.Exists(options.Source) ? options.Source : Path.GetDirectoryName(Path.GetFullPath(options.Source))!);
    }

    /// <summary>
    /// The manifest's facts from tokenizer files: every added token not marked <c>"special": false</c> as a special
    /// token (its id must be inside the vocabulary), and tokenizer_config.json's add_bos_token.
    /// </summary>
    /// <param name="files">tokenizer.json and optionally tokenizer_config.json, copied or as text.</param>
    /// <param name="vocab">The model's vocabulary size.</param>
    /// <exception cref="UnsupportedCheckpointException">Unreadable files, or an added token outside the vocabulary.</exception>
    public static ImportTokenizer FromFiles(IReadOnlyList<ImportFile> files, int vocab)
    {
        ArgumentNullException.ThrowIfNull(files);
        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        var json = files.Single(f => f.Name == TokenizerJson);
        var config = files.SingleOrDefault(f => f.Name == TokenizerConfigJson);
        string where = json.CopyFrom ?? TokenizerJson;
        try
        {
            if (JsonNode.Parse(Text(json))?["added_tokens"] is JsonArray added)
            {
                foreach (var token in added.OfType<JsonObject>())
                {
                    if ((string?)token["content"] is { } content && token["id"]?.GetValue<int>() is int id && (bool?)token["special"] != false)
                    {
                        if (id >= vocab)
                        {
                            throw new UnsupportedCheckpointException($"unsupported tokenizer: added token {content} has id {id}, outside vocab_size {vocab}");
                        }

                        special[content] = id;
                    }
                }
            }

            bool addBos = config is not null && (bool?)JsonNode.Parse(Text(config))?["add_bos_token"] == true;
            return new ImportTokenizer { Files = files, SpecialTokens = special, AddBos = addBos };
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            throw new UnsupportedCheckpointException($"unreadable tokenizer files ({where}): {ex.Message}", ex);
        }
    }

    private static string Text(ImportFile file) => file.Content ?? File.ReadAllText(file.CopyFrom!);
}
