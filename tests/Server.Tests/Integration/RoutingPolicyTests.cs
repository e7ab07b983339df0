using MoeServe.Server.Tests.Support;

namespace MoeServe.Server.Tests.Integration;

public sealed class RoutingPolicyTests
{
    [Theory]
    [InlineData("trained")]
    [InlineData("online-bip")]
    [InlineData("topk")]
    public async Task Server_EachRoutingPolicy_ServesAndReportsItsBias(string policy)
    {
        await using var factory = new ServerFactory(new() { ["MoeServe:RoutingPolicy"] = policy });
        using var client = await factory.CreateReadyClientAsync();

        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(i =>
            Http.PostOkAsync(client, "/v1/completions", $$"""{"prompt":"policy {{i}}","max_tokens":6,"temperature":0}""")));

        Assert.All(results, r => Assert.Equal("policy 0".Length, r.GetProperty("usage").GetProperty("prompt_tokens").GetInt32()));
        var metrics = await client.GetStringAsync("/metrics");
        var bias = Http.MetricSum(metrics, "moeserve_router_bias");
        if (policy == "topk")
        {
            Assert.Equal(0, bias);
        }
        else
        {
            Assert.True(bias > 0, $"q under {policy} should be the tiny model's non-zero trained q (or BIP's refinement of it)");
        }

        var dashboard = await client.GetStringAsync("/dashboard/data");
        Assert.Contains($"\"routing_policy\":\"{policy}\"", dashboard, StringComparison.Ordinal);
    }
}
