namespace MoeServe.Router.Tests.Statistics;

public class BalancedNoiseFloorTests
{
    [Fact]
    public void MeanMaxVio_OneTokenTopTwoOfFour_IsExactlyOne()
    {
        // One token, 2 of 4 experts: loads are two 1s and two 0s, mean 0.5, so MaxVio is (1 - 0.5) / 0.5 = 1 in every trial.
        Assert.Equal(1.0, BalancedNoiseFloor.MeanMaxVio(new RoutingShape(1, 4, 2), new Random(1), trials: 50), 12);
    }

    [Fact]
    public void MeanMaxVio_KEqualsM_IsZero_AndShrinksAsBatchesGrow()
    {
        Assert.Equal(0.0, BalancedNoiseFloor.MeanMaxVio(new RoutingShape(7, 4, 4), new Random(1), trials: 20));
        double small = BalancedNoiseFloor.MeanMaxVio(new RoutingShape(32, 16, 2), new Random(2), trials: 400);
        double large = BalancedNoiseFloor.MeanMaxVio(new RoutingShape(4096, 16, 2), new Random(2), trials: 100);
        Assert.InRange(small, 0.5, 2.0);
        Assert.InRange(large, 0.01, 0.2);
        Assert.True(large < small / 4);
    }

    [Fact]
    public void MeanMaxVio_SameSeed_SameFloor()
    {
        var shape = new RoutingShape(8, 16, 2);
        Assert.Equal(BalancedNoiseFloor.MeanMaxVio(shape, new Random(9), 100), BalancedNoiseFloor.MeanMaxVio(shape, new Random(9), 100));
    }
}
