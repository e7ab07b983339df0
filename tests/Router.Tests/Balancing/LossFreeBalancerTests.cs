namespace MoeServe.Router.Tests.Balancing;

public class LossFreeBalancerTests
{
    [Fact]
    public void Route_OverloadedExpert_GetsPenalisedByU()
    {
        // Both tokens pick expert 0 (k = 1, m = 2): load [2, 0], mean 1.
        float[] s = [0.9f, 0.1f, 0.8f, 0.2f];
        var q = new float[2];
        var policy = new LossFreeBalancer(q, new LossFreeOptions { UpdateRate = 0.25f });

        policy.Route(s, new RoutingShape(2, 2, 1), new int[2], new float[2]);

        // b += u * sign(mean - load): b0 = -0.25, b1 = +0.25; stored as q = -b.
        Assert.Equal([0.25f, -0.25f], q);
    }

    [Fact]
    public void Route_AfterEnoughBatches_BiasMovesTokensToTheColdExpert()
    {
        float[] s = [0.6f, 0.4f, 0.6f, 0.4f];
        var experts = new int[2];
        var policy = new LossFreeBalancer(new float[2], new LossFreeOptions { UpdateRate = 0.05f });

        for (int batch = 0; batch < 4; batch++)
        {
            policy.Route(s, new RoutingShape(2, 2, 1), experts, new float[2]);
        }

        Assert.Equal([1, 1], experts); // the fourth batch routes with q = (0.15, -0.15): 0.4 + 0.15 > 0.6 - 0.15
    }
}
