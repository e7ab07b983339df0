using MoeServe.Router;

using ScottPlot;

namespace MoeServe.Cli.Commands;

/// <summary>PNG plots of MaxVio per batch (ScottPlot).</summary>
internal static class SimulatePlot
{
    /// <summary>
    /// Writes one PNG with every result, or with <paramref name="perWorkload"/> one PNG per workload
    /// (named PATH-uniform.png, PATH-softmax.png). A sweep plots topk, lossfree and the BIP
    /// configurations that differ from the default in one option (so the plot stays readable).
    /// </summary>
    public static IEnumerable<string> Write(string path, IReadOnlyList<SimulateResult> results, bool perWorkload)
    {
        if (!perWorkload)
        {
            Render(path, results, "MaxVio per batch", yCap: null);
            yield return path;
            yield break;
        }

        foreach (IGrouping<SimulateWorkloadKind, SimulateResult> group in results.GroupBy(r => r.Config.Workload))
        {
            string name = SimulateNames.Workload(group.Key);
            string file = Path.Combine(Path.GetDirectoryName(path) ?? string.Empty, $"{Path.GetFileNameWithoutExtension(path)}-{name}{Path.GetExtension(path)}");
            List<SimulateResult> chosen = [.. group.Where(IsPlotWorthy)];
            Render(file, chosen.Count > 0 ? chosen : [.. group], $"MaxVio per batch, {name} workload (y axis cut at 1)", yCap: 1.0);
            yield return file;
        }
    }

    // In a sweep: the baselines, and BIP with T = default where at most one of clip / order / start / statistic differs from the defaults.
    private static bool IsPlotWorthy(SimulateResult r)
    {
        SimulateConfig c = r.Config;
        if (c.Method != RoutingMethod.Bip)
        {
            return true;
        }

        var d = new BipOptions();
        if (c.Bip.Iterations != d.Iterations)
        {
            return false;
        }

        int differences = (c.Bip.Clip != d.Clip ? 1 : 0) + (c.Bip.Order != d.Order ? 1 : 0) + (c.Bip.WarmStart != d.WarmStart ? 1 : 0) + (c.Bip.Statistic != d.Statistic ? 1 : 0);

        // Also the literal BIP (both duals clipped, exact statistics): the configuration that drifts.
        bool literal = c.Bip.Clip == BipClip.Both && c.Bip.Statistic == OrderStatisticMode.Exact && c.Bip.Order == d.Order && c.Bip.WarmStart == d.WarmStart;
        return differences <= 1 || literal;
    }

    private static void Render(string path, IReadOnlyList<SimulateResult> results, string title, double? yCap)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        var plot = new Plot();
        foreach (SimulateResult r in results)
        {
            double[] xs = [.. Enumerable.Range(1, r.MaxVioPerBatch.Length).Select(b => (double)b)];
            var line = plot.Add.Scatter(xs, r.MaxVioPerBatch);
            line.MarkerSize = 0;
            line.LineWidth = 2;
            line.LegendText = r.Config.Label;
        }

        SimulateConfig c = results[0].Config;
        plot.Title($"{title} (n={c.Tokens}, m={c.Experts}, k={c.TopK})");
        plot.XLabel("batch");
        plot.YLabel("MaxVio");
        double top = Math.Max(0.1, results.Max(r => r.MaxVioPerBatch.Max()) * 1.05);
        plot.Axes.SetLimitsY(0, yCap is double cap ? Math.Min(cap, top) : top);
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 1000, 560);
    }
}
