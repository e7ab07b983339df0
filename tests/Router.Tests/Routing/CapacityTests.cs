namespace MoeServe.Router.Tests.Routing;

public class CapacityTests
{
    [Fact]
    public void Route_EveryTokenWantsTheSameTwoExperts_SwapRepairKeepsCapacityAndDistinctness()
    {
        // m = 3, k = 2, n = 3, capacity 2: everyone prefers A (0) and B (1); token 2 is the weakest on both.
        // Refilling token 2 greedily leaves only C with room, which token 2 already took, so a swap is needed.
        float[] s =
        [
            0.50f, 0.45f, 0.05f,
            0.48f, 0.47f, 0.05f,
            0.40f, 0.40f, 0.20f,
        ];
        var shape = new RoutingShape(3, 3, 2);
        var experts = new int[6];

        new TopKPolicy(renormalize: false, capacityFactor: 1.0).Route(s, shape, experts, new float[6]);

        var loads = new int[3];
        LoadStatistics.CountLoads(experts, loads);
        Assert.Equal([2, 2, 2], loads);
        for (int i = 0; i < 3; i++)
        {
            Assert.NotEqual(experts[2 * i], experts[(2 * i) + 1]);
        }
    }

    [Fact]
    public void Route_OverfullExpert_KeepsItsHighestScoringTokens()
    {
        // Four tokens all prefer expert 0 (capacity 2 with n k / m = 4 * 1 / 2): the two with the highest s[., 0] stay.
        float[] s =
        [
            0.90f, 0.10f,
            0.60f, 0.40f,
            0.95f, 0.05f,
            0.70f, 0.30f,
        ];
        var experts = new int[4];

        new TopKPolicy(capacityFactor: 1.0).Route(s, new RoutingShape(4, 2, 1), experts, new float[4]);

        Assert.Equal([0, 1, 0, 1], experts);
    }

    [Fact]
    public void Constructor_CapacityBelowOne_Throws()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new TopKPolicy(capacityFactor: 0.5));
        Assert.Contains("capacityFactor", e.Message, StringComparison.Ordinal);
    }
}
