using MoeServe.Model;
using MoeServe.Training.Configuration;
using MoeServe.Training.Data;
using MoeServe.Training.Routing;
using MoeServe.Training.Trainer;

namespace MoeServe.Training.Tests;

/// <summary>Tiny-preset trainers on a synthetic, learnable token stream.</summary>
internal static class TinySetup
{
    public static ModelConfig Config => TrainingPresets.Tiny.Model;

    /// <summary>
    /// A stream with structure a small model learns quickly: repeated short "words" drawn from a
    /// fixed set with a seeded random order, so the next token is often predictable.
    /// </summary>
    public static TrainingData Data(int tokens = 20000, int seed = 7)
    {
        var random = new Random(seed);
        int vocab = Config.VocabSize;
        var words = Enumerable.Range(0, 12).Select(_ => Enumerable.Range(0, random.Next(2, 6)).Select(_ => random.Next(1, vocab)).ToArray()).ToArray();
        var stream = new List<int>(tokens + 8);
        while (stream.Count < tokens)
        {
            stream.AddRange(words[random.Next(words.Length)]);
        }

        var all = stream.Take(tokens).ToArray();
        int split = tokens * 9 / 10;
        return new TrainingData(all[..split], all[split..], vocab, null);
    }

    public static TrainingOptions Options(BalanceMethod method, int steps = 40) => new()
    {
        Preset = "tiny",
        Method = method,
        Steps = steps,
        BatchSize = TrainingPresets.Tiny.BatchSize,
        SequenceLength = Config.ContextLength,
        LearningRate = TrainingPresets.Tiny.LearningRate,
        WarmupSteps = 5,
        CheckpointEvery = 0,
        LogEvery = 10,
        ValidationTokens = 1024,
        Threads = 1,
        Seed = 42,
    };

    public static MoeTrainer Trainer(BalanceMethod method, int steps = 40) => new(Options(method, steps), Config, Data());
}
