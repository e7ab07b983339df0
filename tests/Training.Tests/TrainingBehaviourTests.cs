using MoeServe.Router;
using MoeServe.Training.Routing;
using MoeServe.Training.Trainer;

using static TorchSharp.torch;

namespace MoeServe.Training.Tests;

public sealed class TrainingBehaviourTests
{
    [Fact]
    public void TrainStep_FewDozenSteps_LossDecreases()
    {
        using var trainer = TinySetup.Trainer(BalanceMethod.Bip, steps: 40);
        var losses = Enumerable.Range(0, 40).Select(_ => trainer.TrainStep().Loss).ToList();
        double first = losses.Take(5).Average();
        double last = losses.Skip(35).Average();
        Assert.True(last < first * 0.8, $"loss went from {first:F3} to {last:F3}");
    }

    [Fact]
    public void TrainStep_FirstStepWithBip_MaxVioBelowPlainTopK()
    {
        // Same seed: same initial weights and the same first batch; only the routing differs.
        using var plain = TinySetup.Trainer(BalanceMethod.None);
        using var bip = TinySetup.Trainer(BalanceMethod.Bip);
        var plainStep = plain.TrainStep();
        var bipStep = bip.TrainStep();
        Assert.Equal(plainStep.Tokens, bipStep.Tokens);
        Assert.True(bipStep.MeanMaxVio < plainStep.MeanMaxVio, $"bip {bipStep.MeanMaxVio:F3} vs top-K {plainStep.MeanMaxVio:F3}");
        for (int l = 0; l < bipStep.MaxVio.Count; l++)
        {
            Assert.True(bipStep.MaxVio[l] <= plainStep.MaxVio[l], $"layer {l}: bip {bipStep.MaxVio[l]:F3} vs top-K {plainStep.MaxVio[l]:F3}");
        }
    }

    [Fact]
    public void AuxiliaryLoss_Backward_PutsGradientOnEveryRouter()
    {
        using var trainer = TinySetup.Trainer(BalanceMethod.Aux);
        var config = trainer.Config;
        var tokens = randint(0, config.VocabSize, [2, 16], dtype: ScalarType.Int64);
        using var pass = new RoutingPass(config.Layers, config.Experts, _ => new TopKPolicy(), auxAlpha: 0.1);
        using var logits = trainer.Model.Forward(tokens, pass);
        using var aux = pass.AuxiliaryLoss();
        Assert.NotNull(aux);
        Assert.True(aux.item<float>() > 0);
        trainer.Model.zero_grad();
        aux.backward();
        var parameters = trainer.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        for (int l = 0; l < config.Layers; l++)
        {
            var grad = parameters[$"layers.{l}.moe.gate.weight"].grad;
            Assert.NotNull(grad);
            Assert.True(grad.abs().sum().item<float>() > 0, $"layer {l} router has no gradient from the auxiliary loss");
        }

        // The last layer's auxiliary term depends on its scores only, not on its experts' outputs.
        var expertGrad = parameters[$"layers.{config.Layers - 1}.moe.experts.0.w1.weight"].grad;
        Assert.True(expertGrad is null || expertGrad.abs().sum().item<float>() == 0);
    }

    [Fact]
    public void AuxiliaryLoss_MethodNone_IsNotComputed()
    {
        using var trainer = TinySetup.Trainer(BalanceMethod.None);
        var step = trainer.TrainStep();
        Assert.Equal(0, step.AuxLoss);
    }

    [Theory]
    [InlineData(BalanceMethod.Bip)]
    [InlineData(BalanceMethod.LossFree)]
    [InlineData(BalanceMethod.Aux)]
    public void Resume_FromCheckpoint_ContinuesBitIdentically(BalanceMethod method)
    {
        string directory = Path.Combine(Path.GetTempPath(), "moeserve-resume-" + Guid.NewGuid().ToString("N"));
        try
        {
            List<double> straightLosses;
            Dictionary<string, float[]> straightWeights;
            float[][] straightQ;
            float[][]? straightAverage;
            using (var straight = TinySetup.Trainer(method, steps: 8))
            {
                for (int i = 0; i < 4; i++)
                {
                    straight.TrainStep();
                }

                TrainingCheckpoint.Save(straight, directory, tokenizerDirectory: null);
                straightLosses = Enumerable.Range(0, 4).Select(_ => straight.TrainStep().Loss).ToList();
                straightWeights = TrainingCheckpoint.ExportWeights(straight).ToDictionary(p => p.Key, p => p.Value.Data);
                straightQ = Enumerable.Range(0, straight.Config.Layers).Select(l => straight.Routing.State.Layer(l).ToArray()).ToArray();
                straightAverage = straight.Routing.Average is { } average
                    ? Enumerable.Range(0, straight.Config.Layers).Select(l => average.State.Layer(l).ToArray()).ToArray()
                    : null;
            }

            using var resumed = TinySetup.Trainer(method, steps: 8);
            TrainingCheckpoint.Restore(resumed, directory);
            Assert.Equal(4, resumed.Step);
            var resumedLosses = Enumerable.Range(0, 4).Select(_ => resumed.TrainStep().Loss).ToList();
            Assert.Equal(straightLosses, resumedLosses);
            foreach (var (name, values) in TrainingCheckpoint.ExportWeights(resumed))
            {
                Assert.True(straightWeights[name].AsSpan().SequenceEqual(values.Data), $"{name} differs after resume");
            }

            for (int l = 0; l < resumed.Config.Layers; l++)
            {
                Assert.Equal(straightQ[l], resumed.Routing.State.Layer(l));
                if (straightAverage is not null)
                {
                    Assert.Equal(straightAverage[l], resumed.Routing.Average!.State.Layer(l));
                }
            }

            Assert.Equal(method != BalanceMethod.Aux, straightAverage is not null);

            Assert.Equal(8, resumed.Statistics.Steps);
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    [Fact]
    public void Restore_DifferentMethod_ThrowsNamingTheMethod()
    {
        string directory = Path.Combine(Path.GetTempPath(), "moeserve-resume-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (var bip = TinySetup.Trainer(BalanceMethod.Bip, steps: 4))
            {
                bip.TrainStep();
                TrainingCheckpoint.Save(bip, directory, tokenizerDirectory: null);
            }

            using var other = TinySetup.Trainer(BalanceMethod.None, steps: 4);
            var error = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Restore(other, directory));
            Assert.Contains("--balance bip", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }
}
