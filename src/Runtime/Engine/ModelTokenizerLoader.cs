using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;
using MoeServe.Model;
using MoeServe.Text.Tokenization;

namespace MoeServe.Runtime;

/// <summary>
/// Loads the tokenizer a model directory's manifest names, by kind: MoeServe's tiktoken pair through
/// src/Text's <see cref="TokenizerFiles"/>, or a Hugging Face tokenizer.json.
/// STOP-GAP for the Hugging Face kind: a byte-level <see cref="BpeTokenizer"/> built from the file's
/// model.vocab, model.merges, added_tokens and the pre-tokenizer's Split regex. It covers byte-level
/// BPE files (GPT-2 / Qwen / OLMoE style) only; the tokenizer engineer's src/Text/HuggingFace loader
/// replaces <see cref="LoadHuggingFace"/> at merge time (one call site: this class).
/// </summary>
public static class ModelTokenizerLoader
{
    // GPT-2's pre-tokenizer pattern, the ByteLevel pre-tokenizer's default when use_regex is true.
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>The tokenizer of the model in <paramref name="modelDirectory"/> as its manifest describes it.</summary>
    /// <param name="modelDirectory">The model directory.</param>
    /// <param name="manifest">Its manifest.</param>
    public static Tokenizer Load(string modelDirectory, ModelManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.Tokenizer.Kind == TokenizerKind.HuggingFace)
        {
            return LoadHuggingFace(Path.Combine(modelDirectory, manifest.Tokenizer.HuggingFaceTokenizer!));
        }

        string tokenizerDirectory = Path.GetDirectoryName(Path.GetFullPath(Path.Combine(modelDirectory, manifest.Tokenizer.Description)))!;
        return TokenizerFiles.Load(tokenizerDirectory);
    }

    /// <summary>A Hugging Face byte-level BPE tokenizer.json as a Microsoft.ML.Tokenizers tokenizer (stop-gap, see the class).</summary>
    /// <param name="path">The tokenizer.json file.</param>
    /// <exception cref="InvalidDataException">Not a byte-level BPE tokenizer.json; the message names the file and the field.</exception>
    public static Tokenizer LoadHuggingFace(string path)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: the top level is not an object.");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path} is not valid JSON: {ex.Message}", ex);
        }

        if (root["model"] is not JsonObject model || (string?)model["type"] != "BPE" || model["vocab"] is not JsonObject vocab)
        {
            throw new InvalidDataException($"{path}: model.type must be BPE with a vocab object (this stop-gap loader reads byte-level BPE only).");
        }

        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (token, id) in vocab)
        {
            vocabulary[token] = id!.GetValue<int>();
        }

        var merges = new List<string>();
        foreach (var merge in model["merges"] as JsonArray ?? [])
        {
            // Older files write "a b", newer ones ["a", "b"].
            merges.Add(merge is JsonArray pair ? $"{(string?)pair[0]} {(string?)pair[1]}" : (string)merge!);
        }

        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var added in root["added_tokens"] as JsonArray ?? [])
        {
            if (added is JsonObject token && (string?)token["content"] is { } content && token["id"] is { } id)
            {
                special[content] = id.GetValue<int>();
                vocabulary.Remove(content);
            }
        }

        string pattern = FindSplitPattern(root["pre_tokenizer"]) ?? Gpt2Pattern;
        var options = new BpeOptions(vocabulary)
        {
            Merges = merges,
            SpecialTokens = special,
            PreTokenizer = new RegexPreTokenizer(new Regex(pattern, RegexOptions.Compiled), special),
            ByteLevel = true,
        };
        return BpeTokenizer.Create(options);
    }

    private static string? FindSplitPattern(JsonNode? node)
    {
        if (node is not JsonObject pre)
        {
            return null;
        }

        if ((string?)pre["type"] == "Split" && pre["pattern"] is JsonObject p && (string?)p["Regex"] is { } regex)
        {
            return regex;
        }

        foreach (var inner in pre["pretokenizers"] as JsonArray ?? [])
        {
            if (FindSplitPattern(inner) is { } found)
            {
                return found;
            }
        }

        return null;
    }
}
