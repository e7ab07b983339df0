namespace MoeServe.Model.Import;

/// <summary>One file an import writes beside the graphs: copied from <paramref name="CopyFrom"/>, or written from <paramref name="Content"/>.</summary>
/// <param name="Name">The file name inside the model directory (tokenizer.json, tokenizer_config.json).</param>
/// <param name="CopyFrom">A file to copy byte for byte, or null.</param>
/// <param name="Content">Text to write (UTF-8), when <paramref name="CopyFrom"/> is null.</param>
public sealed record ImportFile(string Name, string? CopyFrom = null, string? Content = null);

/// <summary>
/// The tokenizer and chat template of an import, prepared and checked before anything is written: the files to
/// put in the model directory and the facts the manifest records.
/// </summary>
public sealed record ImportTokenizer
{
    /// <summary>The tokenizer files, tokenizer.json first.</summary>
    public required IReadOnlyList<ImportFile> Files { get; init; }

    /// <summary>The special tokens (content to id) the manifest lists.</summary>
    public required IReadOnlyDictionary<string, int> SpecialTokens { get; init; }

    /// <summary>Whether prompts start with the BOS id (tokenizer_config.json's add_bos_token).</summary>
    public bool AddBos { get; init; }

    /// <summary>The BOS id the tokenizer names, used when the checkpoint's config has none.</summary>
    public int? BosId { get; init; }

    /// <summary>The EOS id the tokenizer names, used when the checkpoint's config has none.</summary>
    public int? EosId { get; init; }

    /// <summary>The chat template the served model renders, or null (the manifest's simple format stays).</summary>
    public ManifestJinjaChatTemplate? ChatTemplate { get; init; }

    /// <summary>One line saying which chat template was chosen and why (for the import's log), or null.</summary>
    public string? ChatTemplateDescription { get; init; }
}

/// <summary>
/// Supplies an import's tokenizer files and chat template. <see cref="HfTokenizerFiles"/> (this project) copies a
/// Hugging Face directory's tokenizer.json as it is; src/Text's <c>MoeServe.Text.Import.ImportTokenizerProvider</c>
/// also converts a GGUF's tokenizer metadata, checks that the tokenizer loads and selects the chat template. The
/// seam exists because src/Text references this project, not the other way round; the import command wires it.
/// </summary>
public interface IImportTokenizerProvider
{
    /// <summary>Reads and checks the tokenizer and chat template; writes nothing.</summary>
    /// <param name="checkpoint">The opened checkpoint.</param>
    /// <param name="mapping">Its mapping (family, vocabulary size, BOS/EOS ids).</param>
    /// <param name="options">The import's options (tokenizer directory, chat template file).</param>
    /// <exception cref="UnsupportedCheckpointException">The tokenizer or template cannot be served; one line naming it.</exception>
    ImportTokenizer Prepare(IHfCheckpoint checkpoint, HfModelMapping mapping, ImportOptions options);
}
