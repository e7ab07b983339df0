using MoeServe.Model;
using MoeServe.Model.Export;
using MoeServe.Runtime.Evaluation;
using MoeServe.TestSupport;
using MoeServe.Training.Configuration;
using MoeServe.Training.Data;
using MoeServe.Training.Routing;
using MoeServe.Training.Trainer;

namespace MoeServe.Runtime.Tests.Evaluation;

/// <summary>
/// The eval acceptance on a model trained in the test: train a few BIP steps with the TorchSharp
/// trainer, checkpoint, export, and the runtime's perplexity must reproduce the trainer's validation
/// perplexity (same windows) within 1%.
/// </summary>
public sealed class TrainedModelEvalTests
{
    private static readonly ModelConfig Config = new()
    {
        VocabSize = 272,
        DModel = 32,
        Layers = 2,
        Heads = 2,
        Experts = 8,
        TopK = 2,
        ExpertHidden = 32,
        ContextLength = 32,
    };

    [Theory]
    [InlineData(TensorDType.Float32, 1e-3)]
    [InlineData(TensorDType.Float16, 1e-2)]
    public void Evaluate_ExportedTrainedCheckpoint_ReproducesTrainerValidationPerplexity(TensorDType storage, double relativeTolerance)
    {
        string root = Path.Combine(Path.GetTempPath(), "moeserve-runtime-tests", Guid.NewGuid().ToString("N"));
        try
        {
            var data = SyntheticData();
            var options = new TrainingOptions
            {
                Preset = "tiny",
                Method = BalanceMethod.Bip,
                Steps = 25,
                BatchSize = 4,
                SequenceLength = Config.ContextLength,
                LearningRate = 3e-3,
                WarmupSteps = 5,
                CheckpointEvery = 0,
                LogEvery = 100,
                ValidationTokens = 1024,
                Threads = 1,
                Seed = 42,
            };
            using var trainer = new MoeTrainer(options, Config, data);
            for (int i = 0; i < options.Steps; i++)
            {
                trainer.TrainStep();
            }

            var expected = trainer.Evaluate();

            // A byte-level tokenizer (ids 0..256) for the checkpoint: export needs tokenizer files.
            string tokenizer = Path.Combine(root, "tokenizer");
            TinyCheckpoint.CreateRandom(tokenizer, Config, seed: 1);
            string checkpoint = Path.Combine(root, "checkpoint");
            string model = Path.Combine(root, "model");
            TrainingCheckpoint.Save(trainer, checkpoint, tokenizer);
            new CheckpointExporter().Export(new ExportOptions { CheckpointDirectory = checkpoint, OutputDirectory = model, WeightType = storage });

            using var engine = MoeEngine.Load(new RuntimeOptions { ModelPath = model, MaxBatchTokens = 8 * Config.ContextLength, MaxSequences = 8 });
            var actual = new PerplexityEvaluator(engine).Evaluate(data.Validation, Config.ContextLength, options.ValidationTokens, windowsPerStep: 8);

            Assert.Equal(expected.Tokens, actual.Tokens);
            double relative = Math.Abs(actual.Perplexity - expected.Perplexity) / expected.Perplexity;
            Assert.True(relative < relativeTolerance, $"runtime {actual.Perplexity:F4} vs trainer {expected.Perplexity:F4} ({storage}), relative {relative:E2}");
            for (int l = 0; l < Config.Layers; l++)
            {
                Assert.Equal(expected.MaxVioGlobal[l], actual.MaxVioGlobalPerLayer[l], 1);
            }
        }
        finally
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static TrainingData SyntheticData()
    {
        var random = new Random(7);
        var words = Enumerable.Range(0, 12).Select(_ => Enumerable.Range(0, random.Next(2, 6)).Select(_ => random.Next(1, 256)).ToArray()).ToArray();
        var stream = new List<int>();
        while (stream.Count < 12000)
        {
            stream.AddRange(words[random.Next(words.Length)]);
        }

        var all = stream.Take(12000).ToArray();
        return new TrainingData(all[..10800], all[10800..], Config.VocabSize, null);
    }
}
