using ScottPlot;

namespace MoeServe.Training.Compare;

/// <summary>PNG line plots of per-step series, one line per method (ScottPlot).</summary>
public static class ComparePlots
{
    /// <summary>Writes one plot.</summary>
    /// <param name="path">The PNG path.</param>
    /// <param name="title">Plot title.</param>
    /// <param name="yLabel">Y axis label.</param>
    /// <param name="lines">Legend text and (x, y) per method.</param>
    public static void Write(string path, string title, string yLabel, IEnumerable<(string Name, double[] X, double[] Y)> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var plot = new Plot();
        foreach (var (name, x, y) in lines)
        {
            if (x.Length == 0)
            {
                continue;
            }

            var scatter = plot.Add.ScatterLine(x, y);
            scatter.LegendText = name;
            scatter.LineWidth = 1.5f;
        }

        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel(yLabel);
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 1000, 520);
    }
}
