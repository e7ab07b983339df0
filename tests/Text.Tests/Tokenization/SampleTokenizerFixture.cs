using Microsoft.ML.Tokenizers;

using MoeServe.Text.Tokenization;

namespace MoeServe.Text.Tests.Tokenization;

/// <summary>A 600-token vocabulary trained once on the sample, saved and loaded back through TokenizerFiles.</summary>
public sealed class SampleTokenizerFixture : IDisposable
{
    private readonly TempDirectory _directory = new();

    public SampleTokenizerFixture()
    {
        Result = new BpeTrainer(new BpeTrainerOptions { VocabularySize = 600 }).Train([TestData.Sample]);
        Description = TokenizerFiles.Save(_directory.Path, Result.Vocabulary);
        Tokenizer = TokenizerFiles.Load(_directory.Path);
    }

    public BpeTrainingResult Result { get; }

    public TokenizerDescription Description { get; }

    public Tokenizer Tokenizer { get; }

    public string Directory => _directory.Path;

    public void Dispose() => _directory.Dispose();
}
