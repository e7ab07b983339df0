using MoeServe.Model;
using MoeServe.Model.Gguf;
using MoeServe.Text.Tokenization;

namespace MoeServe.Text.HuggingFace;

/// <summary>What a tokenizer path holds.</summary>
public enum TokenizerSourceKind
{
    /// <summary>Nothing usable was found.</summary>
    Unknown,

    /// <summary>A Hugging Face tokenizer.json (or a directory holding one).</summary>
    HuggingFaceJson,

    /// <summary>A SentencePiece tokenizer.model (or a directory holding one and no Hugging Face tokenizer.json).</summary>
    SentencePieceModel,

    /// <summary>A GGUF file.</summary>
    Gguf,

    /// <summary>MoeServe's own tokenizer description (tokenizer.json with format "tiktoken", next to tokenizer.tiktoken).</summary>
    MoeServeTiktoken,

    /// <summary>A MoeServe model directory (manifest.json): its tokenizer is whatever the manifest names, loaded as the
    /// runtime loads it (MoeServe.Runtime.PromptEncoder, which this library cannot reference).</summary>
    MoeServeModel,
}

/// <summary>
/// The one entry point for "load the tokenizer at this path": a Hugging Face tokenizer.json, a
/// SentencePiece tokenizer.model, or a directory holding either (tokenizer.json is preferred, as
/// transformers does), or a GGUF file (its tokenizer metadata converted by <see cref="GgufTokenizerConverter"/>).
/// </summary>
public static class TokenizerSource
{
    /// <summary>Says what <paramref name="path"/> holds, without loading it.</summary>
    /// <param name="path">A file or a directory.</param>
    /// <returns>The kind, and the file that would be loaded (null when none).</returns>
    public static (TokenizerSourceKind Kind, string? File) Detect(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);

        // First: an imported model directory also holds a Hugging Face tokenizer.json, but its manifest decides.
        string? manifest = Directory.Exists(path) ? Path.Combine(path, ModelManifest.FileName)
            : string.Equals(Path.GetFileName(path), ModelManifest.FileName, StringComparison.Ordinal) ? path : null;
        if (manifest is not null && File.Exists(manifest))
        {
            return (TokenizerSourceKind.MoeServeModel, manifest);
        }

        if (Directory.Exists(path))
        {
            string json = Path.Combine(path, HuggingFaceTokenizerLoader.TokenizerJsonFileName);
            if (HuggingFaceTokenizerLoader.IsHuggingFaceTokenizerJson(json))
            {
                return (TokenizerSourceKind.HuggingFaceJson, json);
            }

            string model = Path.Combine(path, HuggingFaceTokenizerLoader.TokenizerModelFileName);
            if (File.Exists(model))
            {
                return (TokenizerSourceKind.SentencePieceModel, model);
            }

            if (File.Exists(json) && File.Exists(Path.Combine(path, TokenizerFiles.VocabularyFileName)))
            {
                return (TokenizerSourceKind.MoeServeTiktoken, json);
            }

            var ggufs = Directory.GetFiles(path, "*.gguf");
            return ggufs.Length == 1 ? (TokenizerSourceKind.Gguf, ggufs[0]) : (TokenizerSourceKind.Unknown, null);
        }

        if (!File.Exists(path))
        {
            return (TokenizerSourceKind.Unknown, null);
        }

        if (path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) || GgufFile.HasMagic(path))
        {
            return (TokenizerSourceKind.Gguf, path);
        }

        if (path.EndsWith(".model", StringComparison.OrdinalIgnoreCase))
        {
            return (TokenizerSourceKind.SentencePieceModel, path);
        }

        if (HuggingFaceTokenizerLoader.IsHuggingFaceTokenizerJson(path))
        {
            return (TokenizerSourceKind.HuggingFaceJson, path);
        }

        string sibling = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, TokenizerFiles.VocabularyFileName);
        return File.Exists(sibling) ? (TokenizerSourceKind.MoeServeTiktoken, path) : (TokenizerSourceKind.Unknown, null);
    }

    /// <summary>Loads the tokenizer at <paramref name="path"/>.</summary>
    /// <param name="path">A tokenizer.json, a tokenizer.model, a GGUF file, or a directory holding one.</param>
    /// <returns>The tokenizer with its facts.</returns>
    /// <exception cref="FileNotFoundException">Nothing loadable at the path.</exception>
    /// <exception cref="NotSupportedException">MoeServe's own tiktoken description, or a GGUF tokenizer the converter does not know; the message says what to do.</exception>
    /// <exception cref="InvalidDataException">The file is malformed.</exception>
    public static HuggingFaceTokenizer Load(string path)
    {
        var (kind, file) = Detect(path);
        return kind switch
        {
            TokenizerSourceKind.HuggingFaceJson => HuggingFaceTokenizerLoader.Load(file!),
            TokenizerSourceKind.SentencePieceModel => HuggingFaceTokenizerLoader.LoadSentencePieceModel(file!),

            TokenizerSourceKind.Gguf => LoadGguf(file!),
            TokenizerSourceKind.MoeServeTiktoken => throw new NotSupportedException(
                $"'{file}' is MoeServe's own tokenizer description (tiktoken format), not a Hugging Face tokenizer.json: use `tokenizer encode --dir {Path.GetDirectoryName(Path.GetFullPath(file!))}`."),
            TokenizerSourceKind.MoeServeModel => throw new NotSupportedException(
                $"'{file}' belongs to a MoeServe model directory: its tokenizer loads the runtime's way (MoeServe.Runtime.PromptEncoder.Load), as `tokenizer encode --from` does."),
            _ => throw new FileNotFoundException(
                Directory.Exists(path)
                    ? $"'{path}' holds no tokenizer.json (Hugging Face) or tokenizer.model."
                    : File.Exists(path) ? $"'{path}' is neither a Hugging Face tokenizer.json (no \"model\" object), a tokenizer.model nor a GGUF file." : $"'{path}' does not exist.",
                path),
        };
    }

    private static HuggingFaceTokenizer LoadGguf(string file)
    {
        using var gguf = GgufFile.Open(file);
        var metadata = GgufTokenizerMetadata.FromFile(gguf)
            ?? throw new InvalidDataException($"'{file}' carries no tokenizer (no tokenizer.ggml.model key).");
        return GgufTokenizerConverter.Load(metadata);
    }
}
