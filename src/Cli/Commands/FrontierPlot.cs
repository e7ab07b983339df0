using ScottPlot;

namespace MoeServe.Cli.Commands;

/// <summary>PNG of balance against perplexity, one labelled point per setting (ScottPlot, like <see cref="SimulatePlot"/>).</summary>
internal static class FrontierPlot
{
    public static void Write(string path, string model, IReadOnlyList<FrontierRow> rows)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        var plot = new Plot();
        var scaled = rows.Where(r => r.Lambda is not null && r.Q != "previous").OrderBy(r => r.Lambda).ToArray();
        if (scaled.Length > 1)
        {
            var line = plot.Add.Scatter(scaled.Select(r => r.MaxVioGlobal).ToArray(), scaled.Select(r => r.PerplexityChange * 100).ToArray());
            line.LegendText = "served q x lambda";
            line.LineWidth = 1;
            line.MarkerSize = 7;
        }

        foreach (var r in rows)
        {
            if (r.Lambda is null || r.Q == "previous" || scaled.Length <= 1)
            {
                var point = plot.Add.Marker(r.MaxVioGlobal, r.PerplexityChange * 100);
                point.Size = 9;
                point.LegendText = r.Setting;
            }

            var label = plot.Add.Text(r.Lambda is double l && r.Q != "previous" ? $"x{l:0.##}" : r.Setting, r.MaxVioGlobal, r.PerplexityChange * 100);
            label.LabelFontSize = 11;
        }

        plot.Title($"{model}: balance vs quality on held-out text");
        plot.XLabel("MaxVio_global (lower = more balanced)");
        plot.YLabel("perplexity change vs q = 0 (%)");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 1000, 600);
    }
}
