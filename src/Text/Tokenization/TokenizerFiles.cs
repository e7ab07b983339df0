using System.Globalization;
using System.Text;
using System.Text.Json;

using Microsoft.ML.Tokenizers;
using MoeServe.Model;

namespace MoeServe.Text.Tokenization;

/// <summary>
/// Writes a vocabulary as tokenizer.tiktoken ("base64(token bytes) rank" per line, the format
/// Microsoft.ML.Tokenizers' TiktokenTokenizer reads) plus tokenizer.json (special tokens, pattern),
/// and loads such a directory back as a <see cref="Tokenizer"/>. Training, export and the server all
/// go through <see cref="Load"/>, so they tokenize identically.
/// </summary>
public static class TokenizerFiles
{
    /// <summary>The ranks file name (a checkpoint holds the same file under the same name).</summary>
    public const string VocabularyFileName = CheckpointLayout.TokenizerTiktokenFileName;

    /// <summary>The description file name (a checkpoint holds the same file under the same name).</summary>
    public const string DescriptionFileName = CheckpointLayout.TokenizerJsonFileName;

    /// <summary>Writes tokenizer.tiktoken and tokenizer.json into <paramref name="directory"/> (created if needed).</summary>
    /// <param name="directory">Target directory.</param>
    /// <param name="vocabulary">The trained vocabulary.</param>
    /// <param name="training">Optional free-form facts about training, stored in tokenizer.json.</param>
    /// <returns>The description that was written.</returns>
    public static TokenizerDescription Save(string directory, BpeVocabulary vocabulary, IReadOnlyDictionary<string, string>? training = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(vocabulary);
        Directory.CreateDirectory(directory);
        var ranks = new StringBuilder(vocabulary.TokenBytes.Count * 12);
        for (int rank = 0; rank < vocabulary.TokenBytes.Count; rank++)
        {
            ranks.Append(Convert.ToBase64String(vocabulary.TokenBytes[rank])).Append(' ').Append(rank.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        File.WriteAllText(Path.Combine(directory, VocabularyFileName), ranks.ToString(), new UTF8Encoding(false));
        var description = new TokenizerDescription
        {
            VocabSize = vocabulary.Count,
            OrdinaryTokens = vocabulary.TokenBytes.Count,
            Pattern = vocabulary.Pattern,
            SpecialTokens = new SortedDictionary<string, int>(vocabulary.SpecialTokens.ToDictionary(), StringComparer.Ordinal),
            EndOfTextId = vocabulary.SpecialTokens.GetValueOrDefault(SpecialTokens.EndOfText, -1),
            Training = training,
        };
        TextJson.Write(Path.Combine(directory, DescriptionFileName), description);
        return description;
    }

    /// <summary>Reads and checks tokenizer.json.</summary>
    /// <param name="directory">A directory written by <see cref="Save"/>.</param>
    /// <exception cref="FileNotFoundException">tokenizer.json or the ranks file is missing.</exception>
    /// <exception cref="InvalidDataException">tokenizer.json is malformed; the message lists every problem.</exception>
    public static TokenizerDescription ReadDescription(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        string path = Path.Combine(directory, DescriptionFileName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"No {DescriptionFileName} in '{directory}'. Train one with: tokenizer train --input data/corpus/train.txt --out {directory}", path);
        }

        TokenizerDescription? description;
        try
        {
            description = JsonSerializer.Deserialize<TokenizerDescription>(File.ReadAllText(path), TextJson.Options);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e);
        }

        var errors = new List<string>();
        if (description is null)
        {
            throw new InvalidDataException($"{path} is empty.");
        }

        if (description.Format != "tiktoken")
        {
            errors.Add($"format must be \"tiktoken\", got \"{description.Format}\".");
        }

        if (description.Version != TokenizerDescription.CurrentVersion)
        {
            errors.Add($"version must be {TokenizerDescription.CurrentVersion}, got {description.Version}.");
        }

        if (string.IsNullOrEmpty(description.Pattern))
        {
            errors.Add("pattern is missing.");
        }

        if (description.OrdinaryTokens < BpeTrainer.ByteTokenCount)
        {
            errors.Add($"ordinaryTokens must be at least {BpeTrainer.ByteTokenCount}, got {description.OrdinaryTokens}.");
        }

        if (description.VocabSize != description.OrdinaryTokens + description.SpecialTokens.Count)
        {
            errors.Add($"vocabSize ({description.VocabSize}) must equal ordinaryTokens ({description.OrdinaryTokens}) + special tokens ({description.SpecialTokens.Count}).");
        }

        foreach (var (token, id) in description.SpecialTokens)
        {
            if (id < description.OrdinaryTokens || id >= description.VocabSize)
            {
                errors.Add($"special token {token} has id {id}, outside [{description.OrdinaryTokens}, {description.VocabSize}).");
            }
        }

        if (errors.Count > 0)
        {
            throw new InvalidDataException($"{path} is invalid:{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", errors));
        }

        string ranks = Path.Combine(directory, description.VocabularyFile);
        if (!File.Exists(ranks))
        {
            throw new FileNotFoundException($"{DescriptionFileName} names '{description.VocabularyFile}', which is not in '{directory}'.", ranks);
        }

        return description;
    }

    /// <summary>Reads the vocabulary back (token bytes by rank, special tokens, pattern), e.g. to show raw token bytes.</summary>
    /// <param name="directory">A directory written by <see cref="Save"/>.</param>
    /// <exception cref="InvalidDataException">A line is malformed or ranks are not 0, 1, 2, ... in order.</exception>
    public static BpeVocabulary ReadVocabulary(string directory)
    {
        var description = ReadDescription(directory);
        var tokens = new List<byte[]>(description.OrdinaryTokens);
        foreach (string line in File.ReadLines(Path.Combine(directory, description.VocabularyFile)))
        {
            if (line.Length == 0)
            {
                continue;
            }

            string[] fields = line.Split(' ');
            if (fields.Length != 2 || !int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out int rank) || rank != tokens.Count)
            {
                throw new InvalidDataException($"{description.VocabularyFile} line {tokens.Count + 1}: expected \"base64 {tokens.Count}\", got \"{line}\".");
            }

            tokens.Add(Convert.FromBase64String(fields[0]));
        }

        if (tokens.Count != description.OrdinaryTokens)
        {
            throw new InvalidDataException($"{description.VocabularyFile} has {tokens.Count} tokens, {DescriptionFileName} says {description.OrdinaryTokens}.");
        }

        return new BpeVocabulary(tokens, description.SpecialTokens, description.Pattern);
    }

    /// <summary>
    /// Loads a tokenizer directory as a Microsoft.ML.Tokenizers <see cref="TiktokenTokenizer"/>: the
    /// special tokens go to both the pre-tokenizer and the tokenizer, so &lt;|endoftext|&gt; in text
    /// encodes as its single id. No normaliser: decoding an encoding gives back the exact input.
    /// </summary>
    /// <param name="directory">A directory written by <see cref="Save"/>.</param>
    public static Tokenizer Load(string directory)
    {
        var description = ReadDescription(directory);
        var preTokenizer = PreTokenizerPattern.Create(description.Pattern, description.SpecialTokens);
        using var stream = File.OpenRead(Path.Combine(directory, description.VocabularyFile));
        return TiktokenTokenizer.Create(stream, preTokenizer, normalizer: null, specialTokens: description.SpecialTokens);
    }
}
