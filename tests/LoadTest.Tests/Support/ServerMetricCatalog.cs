using System.Text.RegularExpressions;

namespace MoeServe.LoadTest.Tests.Support;

/// <summary>The metrics the server registers, read from src/Server's prometheus-net declarations.</summary>
internal static partial class ServerMetricCatalog
{
    public const string SourceFolder = "src/Server";

    public sealed record Metric(string Name, string Kind, IReadOnlySet<string> Labels);

    /// <summary>Every moeserve_ metric created with CreateCounter/CreateGauge/CreateHistogram, by name.</summary>
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
        var metrics = new Dictionary<string, Metric>(StringComparer.Ordinal);
        foreach (var file in RepositoryPaths.Files(SourceFolder, "*.cs"))
        {
            foreach (Match m in Declaration().Matches(RepositoryPaths.Read(file)))
            {
                var labels = Quoted().Matches(m.Groups["rest"].Value).Select(q => q.Groups[1].Value).ToHashSet();
                metrics[m.Groups["name"].Value] = new Metric(m.Groups["name"].Value, m.Groups["kind"].Value, labels);
            }
        }

        return metrics;
    }

    [GeneratedRegex(@"Create(?<kind>Counter|Gauge|Histogram)\(\s*""(?<name>moeserve_\w+)"",\s*""(?:[^""\\]|\\.)*""(?<rest>[^;]*);")]
    private static partial Regex Declaration();

    [GeneratedRegex(@"""(\w+)""")]
    private static partial Regex Quoted();

    [GeneratedRegex(@"moeserve_[a-z0-9_]*[a-z0-9]")]
    private static partial Regex MetricName();
}
