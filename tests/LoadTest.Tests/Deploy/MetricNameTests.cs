using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MoeServe.LoadTest.Tests.Support;

namespace MoeServe.LoadTest.Tests.Deploy;

/// <summary>
/// Every moeserve_ series that the dashboard, the autoscaler, the adapter rule and the scrape script
/// query is one the server registers (read by reflection from a real ServerMetrics), with the
/// labels those queries use.
/// </summary>
public sealed partial class MetricNameTests
{
    // Labels Prometheus attaches itself, or that histogram series carry.
    private static readonly HashSet<string> TargetLabels = ["le", "instance", "job", "namespace", "pod", "service", "container", "endpoint_port"];

    [Fact]
    public void ServerCatalog_DeclaresTheExpertLoadMetricsTheToolsAreBuiltOn()
    {
        Assert.Equal("Counter", ServerMetricCatalog.All["moeserve_expert_tokens_total"].Kind);
        Assert.Equal(["expert", "layer"], ServerMetricCatalog.All["moeserve_expert_tokens_total"].Labels.Order(StringComparer.Ordinal));
        Assert.Equal("Histogram", ServerMetricCatalog.All["moeserve_batch_max_violation"].Kind);
        Assert.Contains("layer", ServerMetricCatalog.All["moeserve_batch_max_violation"].Labels);
        Assert.Equal("Gauge", ServerMetricCatalog.All["moeserve_requests_waiting"].Kind);
    }

    [Fact]
    public void DashboardQueries_UseOnlyRegisteredSeriesAndTheirLabels()
    {
        var problems = new List<string>();
        foreach (var expr in DashboardExpressions())
        {
            var names = ServerMetricCatalog.NamesIn(expr).ToList();
            var metrics = names.Select(ServerMetricCatalog.MetricOf).ToList();
            problems.AddRange(names.Where((n, i) => metrics[i] is null).Select(n => $"{n} is not registered by the server: {expr}"));
            var known = metrics.Where(m => m is not null).SelectMany(m => m!.Labels).Concat(TargetLabels).ToHashSet();
            problems.AddRange(LabelsUsed(expr).Where(l => !known.Contains(l)).Select(l => $"label {l} is not on {string.Join(", ", names)}: {expr}"));
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public void Autoscaler_MetricIsARegisteredGaugeAndMatchesTheAdapterRule()
    {
        var hpa = YamlDocuments.Load("deploy/kubernetes/hpa.yaml").Single();
        var metricName = (string)hpa["spec"]!["metrics"]![0]!["pods"]!["metric"]!["name"]!;
        var rule = YamlDocuments.Load("deploy/prometheus-adapter/values.yaml").Single()["rules"]!["custom"]!.AsArray()
            .Single(r => (string?)r!["name"]!["as"] == metricName)!;

        Assert.Equal("Gauge", ServerMetricCatalog.All[metricName].Kind);
        Assert.Equal([metricName], ServerMetricCatalog.NamesIn((string)rule["seriesQuery"]!));
        Assert.Matches((string)rule["name"]!["matches"]!, metricName);
        Assert.Contains("<<.Series>>", (string)rule["metricsQuery"]!, StringComparison.Ordinal);
    }

    [Fact]
    public void ScrapeScript_ReadsRegisteredMetrics()
    {
        var names = ServerMetricCatalog.NamesIn(RepositoryPaths.Read("loadtest/lib/prometheus.js")).ToList();

        Assert.NotEmpty(names);
        Assert.All(names, n => Assert.NotNull(ServerMetricCatalog.MetricOf(n)));
    }

    internal static IEnumerable<string> DashboardExpressions() =>
        JsonNode.Parse(RepositoryPaths.Read("deploy/grafana/moeserve-dashboard.json"))!["panels"]!.AsArray()
            .SelectMany(p => p!["targets"]?.AsArray() ?? [])
            .Select(t => (string)t!["expr"]!);

    /// <summary>Label names in selectors ({a="x", b=~"y"}) and grouping clauses (by (a, b), ignoring (c)).</summary>
    private static IEnumerable<string> LabelsUsed(string expr) =>
        SelectorLabel().Matches(expr).Select(m => m.Groups[1].Value)
            .Concat(Grouping().Matches(expr).SelectMany(m => m.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
            .Distinct();

    [GeneratedRegex(@"[{,]\s*(\w+)\s*(=~|!~|!=|=)\s*""")]
    private static partial Regex SelectorLabel();

    [GeneratedRegex(@"\b(?:by|without|ignoring|on)\s*\(([^)]*)\)")]
    private static partial Regex Grouping();
}
