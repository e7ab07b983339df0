namespace MoeServe.Router.Tests.Dispatch;

public class DispatchPlanTests
{
    [Fact]
    public void Build_SmallBatch_GroupsTokensByExpert()
    {
        int[] experts = [2, 0, /* token 1 */ 0, 1, /* token 2 */ 2, 1];
        float[] gates = [0.6f, 0.4f, 0.7f, 0.3f, 0.5f, 0.5f];
        var plan = new DispatchPlan();

        plan.Build(experts, gates, new RoutingShape(3, 3, 2));

        Assert.Equal([2, 2, 2], plan.Counts.ToArray());
        Assert.Equal([0, 2, 4, 6], plan.Offsets.ToArray());
        Assert.Equal([0, 1], plan.TokensOf(0).ToArray());
        Assert.Equal([0.4f, 0.7f], plan.GatesOf(0).ToArray());
        Assert.Equal([1, 2], plan.TokensOf(1).ToArray());
        Assert.Equal([0, 2], plan.TokensOf(2).ToArray());
    }
}
