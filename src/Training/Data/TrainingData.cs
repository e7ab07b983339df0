using MoeServe.Text.Tokenization;

namespace MoeServe.Training.Data;

/// <summary>Tokenised training and validation streams, plus where the tokenizer came from.</summary>
/// <param name="Train">Training token ids.</param>
/// <param name="Validation">Validation token ids.</param>
/// <param name="VocabSize">Vocabulary size of the tokenizer.</param>
/// <param name="TokenizerDirectory">Directory of tokenizer.tiktoken / tokenizer.json, copied into checkpoints; null for synthetic data.</param>
public sealed record TrainingData(int[] Train, int[] Validation, int VocabSize, string? TokenizerDirectory)
{
    /// <summary>
    /// Encodes train.txt and validation.txt of <paramref name="corpusDirectory"/> with the tokenizer in
    /// <paramref name="tokenizerDirectory"/> (both built by the corpus and tokenizer commands).
    /// </summary>
    /// <param name="corpusDirectory">Directory holding train.txt and validation.txt.</param>
    /// <param name="tokenizerDirectory">Directory holding tokenizer.tiktoken and tokenizer.json.</param>
    public static TrainingData Load(string corpusDirectory, string tokenizerDirectory)
    {
        string train = Path.Combine(corpusDirectory, "train.txt");
        string validation = Path.Combine(corpusDirectory, "validation.txt");
        var missing = new[] { train, validation, Path.Combine(tokenizerDirectory, TokenizerFiles.VocabularyFileName), Path.Combine(tokenizerDirectory, TokenizerFiles.DescriptionFileName) }
            .Where(p => !File.Exists(p)).ToList();
        if (missing.Count > 0)
        {
            throw new FileNotFoundException(
                "Training data is missing: " + string.Join(", ", missing) + ". Build it with `corpus` and `tokenizer` first (see docs/training.md).");
        }

        var description = TokenizerFiles.ReadDescription(tokenizerDirectory);
        var encoder = CorpusEncoder.FromDirectory(tokenizerDirectory);
        return new TrainingData(encoder.EncodeFile(train), encoder.EncodeFile(validation), description.VocabSize, tokenizerDirectory);
    }
}
