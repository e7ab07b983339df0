using MoeServe.Training.Routing;

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
}
