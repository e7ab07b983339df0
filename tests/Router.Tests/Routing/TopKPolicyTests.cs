using MoeServe.Router.Tests.Support;

namespace MoeServe.Router.Tests.Routing;

public class TopKPolicyTests
{
    [Fact]
    public void Route_SmallMatrix_PicksLargestScoresBestFirst()
    {
        float[] s = [0.1f, 0.5f, 0.3f, 0.1f, /* token 1 */ 0.4f, 0.1f, 0.2f, 0.3f];
        var shape = new RoutingShape(2, 4, 2);
        var experts = new int[4];
        var gates = new float[4];

        new TopKPolicy(renormalize: false).Route(s, shape, experts, gates);

        Assert.Equal([1, 2, 0, 3], experts);
        Assert.Equal([0.5f, 0.3f, 0.4f, 0.3f], gates);
    }

    [Fact]
    public void Route_Renormalize_GatesSumToOne()
    {
        float[] s = Workloads.Softmax(32, 8, seed: 3);
        var shape = new RoutingShape(32, 8, 2);
        var experts = new int[64];
        var gates = new float[64];

        new TopKPolicy().Route(s, shape, experts, gates);

        for (int i = 0; i < 32; i++)
        {
            Assert.Equal(1f, gates[2 * i] + gates[(2 * i) + 1], 5);
            Assert.True(gates[2 * i] >= gates[(2 * i) + 1]);
        }
    }

    [Fact]
    public void Route_TiedScores_LowerIndexFirst()
    {
        float[] s = [0.25f, 0.25f, 0.25f, 0.25f];
        var experts = new int[2];
        var gates = new float[2];

        new TopKPolicy().Route(s, new RoutingShape(1, 4, 2), experts, gates);

        Assert.Equal([0, 1], experts);
    }

    [Fact]
    public void Route_WrongBufferLength_ThrowsNamingTheBuffer()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            new TopKPolicy().Route(new float[8], new RoutingShape(2, 4, 2), new int[3], new float[4]));
        Assert.Contains("experts", e.Message, StringComparison.Ordinal);
    }
}
