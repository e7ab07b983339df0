using System.Reflection;
using System.Text.RegularExpressions;
using MoeServe.Server.Metrics;
using Prometheus;

namespace MoeServe.LoadTest.Tests.Support;

/// <summary>
/// The metrics the server registers, read by reflection from a real <see cref="ServerMetrics"/>: every
/// prometheus-net collector it holds, with its name, kind and label names as the server creates them.
/// </summary>
internal static partial class ServerMetricCatalog
{
    public sealed record Metric(string Name, string Kind, IReadOnlySet<string> Labels);

    /// <summary>Every moeserve_ metric of <see cref="ServerMetrics"/>, by name.</summary>
    public static IReadOnlyDictionary<string, Metric> All { get; } = Load();

    /// <summary>
    /// Series names a query may use: counters and gauges by name, histograms by name plus
    /// _bucket, _sum and _count.
    /// </summary>
    public static IReadOnlySet<string> SeriesNames { get; } = All.Values
        .SelectMany(m => m.Kind == "Histogram" ? new[] { m.Name + "_bucket", m.Name + "_sum", m.Name + "_count", m.Name } : [m.Name])
        .ToHashSet();

    /// <summary>moeserve_ identifiers in a text (queries, YAML, JavaScript).</summary>
    public static IEnumerable<string> NamesIn(string text) => MetricName().Matches(text).Select(m => m.Value).Distinct();

    /// <summary>The metric a series name belongs to (histogram suffixes removed when the base is a histogram).</summary>
    public static Metric? MetricOf(string series)
    {
        if (All.TryGetValue(series, out var metric))
        {
            return metric;
        }

        foreach (var suffix in new[] { "_bucket", "_sum", "_count" })
        {
            if (series.EndsWith(suffix, StringComparison.Ordinal) && All.TryGetValue(series[..^suffix.Length], out var histogram) && histogram.Kind == "Histogram")
            {
                return histogram;
            }
        }

        return null;
    }

    private static Dictionary<string, Metric> Load()
    {
        // Properties and fields, public or not: a collector the server keeps anywhere in ServerMetrics is exported.
        var metrics = new ServerMetrics();
        const BindingFlags members = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
        var values = typeof(ServerMetrics).GetProperties(members).Where(p => p.GetIndexParameters().Length == 0).Select(p => p.GetValue(metrics))
            .Concat(typeof(ServerMetrics).GetFields(members).Select(f => f.GetValue(metrics)));
        var catalog = new Dictionary<string, Metric>(StringComparer.Ordinal);
        foreach (var collector in values.OfType<Collector>().Where(c => c.Name.StartsWith("moeserve_", StringComparison.Ordinal)))
        {
            string kind = collector switch
            {
                Counter => "Counter",
                Gauge => "Gauge",
                Histogram => "Histogram",
                Summary => "Summary",
                _ => collector.GetType().Name,
            };
            catalog[collector.Name] = new Metric(collector.Name, kind, collector.LabelNames.ToHashSet(StringComparer.Ordinal));
        }

        return catalog;
    }

    [GeneratedRegex(@"moeserve_[a-z0-9_]*[a-z0-9]")]
    private static partial Regex MetricName();
}
