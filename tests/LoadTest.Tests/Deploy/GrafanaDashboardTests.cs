using System.Text.Json.Nodes;
using MoeServe.LoadTest.Tests.Support;

namespace MoeServe.LoadTest.Tests.Deploy;

/// <summary>The Grafana dashboard is valid JSON with the panels issue 6 asks for.</summary>
public sealed class GrafanaDashboardTests
{
    private static readonly JsonNode Dashboard = JsonNode.Parse(RepositoryPaths.Read("deploy/grafana/moeserve-dashboard.json"))!;

    private static IEnumerable<JsonNode> Panels => Dashboard["panels"]!.AsArray().Select(p => p!);

    private static IEnumerable<string> Expressions(JsonNode panel) => panel["targets"]?.AsArray().Select(t => (string)t!["expr"]!) ?? [];

    [Fact]
    public void Dashboard_HasUidTitleUniquePanelIdsAndAPrometheusDatasourceVariable()
    {
        Assert.Equal("moeserve", (string?)Dashboard["uid"]);
        var ids = Panels.Select(p => (int)p["id"]!).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        var variables = Dashboard["templating"]!["list"]!.AsArray();
        Assert.Contains(variables, v => (string?)v!["type"] == "datasource" && (string?)v["query"] == "prometheus");
        Assert.Contains(variables, v => (string?)v!["name"] == "layer");
    }

    [Fact]
    public void Dashboard_HasAnExpertLoadHeatMapPerLayer()
    {
        var heatmap = Assert.Single(Panels, p => (string?)p["type"] == "heatmap");
        Assert.Equal("layer", (string?)heatmap["repeat"]);
        Assert.Contains("moeserve_expert_tokens_total", Assert.Single(Expressions(heatmap)), StringComparison.Ordinal);
    }

    [Fact]
    public void Dashboard_ShowsMaxVioQuantilesLatencyAndThroughput()
    {
        var expressions = Panels.SelectMany(Expressions).ToList();
        Assert.Contains(expressions, e => e.Contains("histogram_quantile(0.95", StringComparison.Ordinal) && e.Contains("moeserve_batch_max_violation_bucket", StringComparison.Ordinal));
        Assert.Contains(expressions, e => e.Contains("moeserve_time_to_first_token_seconds_bucket", StringComparison.Ordinal));
        Assert.Contains(expressions, e => e.Contains("moeserve_e2e_request_latency_seconds_bucket", StringComparison.Ordinal));
        Assert.Contains(expressions, e => e.Contains("rate(moeserve_generation_tokens_total", StringComparison.Ordinal));
        Assert.Contains(expressions, e => e.Contains("moeserve_requests_waiting", StringComparison.Ordinal));
    }

    [Fact]
    public void Dashboard_EveryPanelWithQueriesUsesTheDatasourceVariable()
    {
        foreach (var panel in Panels.Where(p => p["targets"] is not null))
        {
            Assert.Equal("${datasource}", (string?)panel["datasource"]!["uid"]);
            Assert.All(panel["targets"]!.AsArray(), t => Assert.Equal("${datasource}", (string?)t!["datasource"]!["uid"]));
        }
    }
}
