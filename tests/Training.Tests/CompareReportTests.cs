using System.Text.Json;

using MoeServe.Training.Compare;
using MoeServe.Training.Routing;
using MoeServe.Training.Trainer;

namespace MoeServe.Training.Tests;

public sealed class CompareReportTests
{
    [Fact]
    public void Run_TwoMethodsTinyPreset_WritesReportPlotsAndSummaryShape()
    {
        string directory = Path.Combine(Path.GetTempPath(), "moeserve-compare-" + Guid.NewGuid().ToString("N"));
        try
        {
            var options = TinySetup.Options(BalanceMethod.None, steps: 6) with { CheckpointEvery = 3 };
            var summary = new CompareRunner(TextWriter.Null).Run(options, TinySetup.Config, TinySetup.Data(), directory, [BalanceMethod.None, BalanceMethod.Bip], timeLimitPerMethod: null, CancellationToken.None);

            Assert.NotNull(summary);
            foreach (string file in new[] { "report.md", "summary.json", "maxvio_mean.png", "maxvio_layer0.png", "loss.png", "maxvio_first_steps.png" })
            {
                Assert.True(new FileInfo(Path.Combine(directory, file)).Length > 0, file);
            }

            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "summary.json")));
            Assert.Equal("tiny", json.RootElement.GetProperty("preset").GetString());
            Assert.Equal(6, json.RootElement.GetProperty("steps").GetInt64());
            var methods = json.RootElement.GetProperty("methods");
            Assert.Equal(["none", "bip"], methods.EnumerateObject().Select(p => p.Name));
            string[] keys = ["validationPerplexity", "avgMaxVio", "supMaxVio", "maxVioGlobal", "wallSeconds", "tokensPerSecond", "balancingSeconds"];
            foreach (var method in methods.EnumerateObject())
            {
                Assert.Equal(keys, method.Value.EnumerateObject().Select(p => p.Name));
                Assert.True(method.Value.GetProperty("validationPerplexity").GetDouble() > 1);
            }

            var bipRun = TrainingSummary.Load(Path.Combine(directory, "bip", "summary.json"));
            Assert.Equal(6, bipRun.Steps);
            Assert.Equal(7, File.ReadAllLines(Path.Combine(directory, "bip", StepCsvWriter.FileName)).Length);
            Assert.Contains("| bip | 6 |", File.ReadAllText(Path.Combine(directory, "report.md")), StringComparison.Ordinal);
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    [Fact]
    public void MovingAverage_Window3_AveragesTrailingValues()
    {
        Assert.Equal([1.0, 1.5, 2.0, 3.0], StepSeries.MovingAverage([1, 2, 3, 4], 3));
    }
}
