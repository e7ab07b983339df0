using MoeServe.Model;
using MoeServe.Model.Reference;
using MoeServe.Router;
using MoeServe.Training.Routing;
using MoeServe.Training.Trainer;

using static TorchSharp.torch;

namespace MoeServe.Training.Tests;

public sealed class ModelContractTests
{
    [Fact]
    public void NamedParameters_TinyModel_MatchCheckpointContract()
    {
        using var trainer = TinySetup.Trainer(BalanceMethod.None);
        var expected = CheckpointTensorNames.Expected(trainer.Config).ToDictionary(e => e.Name, e => e.Shape);
        var actual = trainer.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape.Select(d => (int)d).ToArray());
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, shape) in expected)
        {
            Assert.Equal(shape, actual[name]);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Forward_TinyModel_MatchesManagedReference(bool biased)
    {
        using var trainer = TinySetup.Trainer(BalanceMethod.None);
        var config = trainer.Config;
        var random = new Random(3);
        float[][] q = Enumerable.Range(0, config.Layers)
            .Select(_ => Enumerable.Range(0, config.Experts).Select(_ => biased ? (float)(random.NextDouble() * 0.1) : 0f).ToArray())
            .ToArray();
        string path = Path.Combine(Path.GetTempPath(), "moeserve-ref-" + Guid.NewGuid().ToString("N") + ".safetensors");
        try
        {
            SafeTensorsFile.Write(path, TrainingCheckpoint.ExportWeights(trainer));
            var reference = new ReferenceMoeModel(config, SafeTensorsFile.Read(path), q);
            long[] tokens = Enumerable.Range(0, 12).Select(_ => (long)random.Next(config.VocabSize)).ToArray();
            float[] expected = reference.Forward(tokens);

            trainer.Model.eval();
            using var noGrad = no_grad();
            using var pass = new RoutingPass(config.Layers, config.Experts, l => new BiasedTopKPolicy(q[l]), 0);
            using var logits = trainer.Model.Forward(tensor(tokens, [1, tokens.Length]), pass);
            float[] actual = logits.data<float>().ToArray();
            Assert.Equal(expected.Length, actual.Length);
            double worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
            Assert.True(worst < 1e-3, $"largest logit difference {worst}");
        }
        finally
        {
            File.Delete(path);
        }
    }
}
