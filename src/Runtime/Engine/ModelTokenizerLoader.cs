using Microsoft.ML.Tokenizers;
using MoeServe.Model;
using MoeServe.Text.HuggingFace;
using MoeServe.Text.Tokenization;

namespace MoeServe.Runtime;

/// <summary>
/// Loads the tokenizer a model directory's manifest names, by kind: MoeServe's tiktoken pair through
/// src/Text's <see cref="TokenizerFiles"/>, or a Hugging Face tokenizer.json (an imported model's, written from a
/// GGUF's metadata or copied from the checkpoint) through src/Text's <see cref="HuggingFaceTokenizerLoader"/>, the
/// same loader <c>tokenizer encode --from</c> and the import's checks use.
/// </summary>
public static class ModelTokenizerLoader
{
    /// <summary>The tokenizer of the model in <paramref name="modelDirectory"/> as its manifest describes it.</summary>
    /// <param name="modelDirectory">The model directory.</param>
    /// <param name="manifest">Its manifest.</param>
    public static Tokenizer Load(string modelDirectory, ModelManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.Tokenizer.Kind == MoeServe.Model.TokenizerKind.HuggingFace)
        {
            return LoadHuggingFace(Path.Combine(modelDirectory, manifest.Tokenizer.HuggingFaceTokenizer!));
        }

        string tokenizerDirectory = Path.GetDirectoryName(Path.GetFullPath(Path.Combine(modelDirectory, manifest.Tokenizer.Description)))!;
        return TokenizerFiles.Load(tokenizerDirectory);
    }

    /// <summary>
    /// A Hugging Face tokenizer.json (with the tokenizer_config.json beside it) as a Microsoft.ML.Tokenizers tokenizer:
    /// byte-level BPE (Qwen, OLMoE, GPT-NeoX) or SentencePiece-style BPE (Llama 2, Mixtral, a GGUF's <c>llama</c> vocabulary).
    /// Its EncodeToIds gives the text's tokens only; the manifest's addBos/bosId add BOS (<see cref="MoeEngine.EncodePrompt"/>).
    /// </summary>
    /// <param name="path">The tokenizer.json file.</param>
    /// <exception cref="InvalidDataException">Not a Hugging Face tokenizer.json, or one using a component the loader does not implement; the message names the file.</exception>
    public static Tokenizer LoadHuggingFace(string path)
    {
        try
        {
            return HuggingFaceTokenizerLoader.Load(path).Tokenizer;
        }
        catch (NotSupportedException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }
}
