using System.Text;
using System.Text.Json;

namespace MoeServe.Cli.Commands;

/// <summary>Runs a <see cref="SimulateRequest"/> and writes its table, JSON, CSV and plot.</summary>
internal static class SimulateOutput
{
    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true };

    public static int Execute(SimulateRequest request, bool json, string? csvPath, string? plotPath, bool sweep)
    {
        IReadOnlyList<string> errors = request.Validate();
        if (errors.Count > 0)
        {
            return CliErrors.Fail(errors);
        }

        List<SimulateConfig> configs = [.. sweep ? request.SweepConfigs() : request.Configs()];
        var results = new List<SimulateResult>(configs.Count);
        SimulateWorkloadKind? cachedKind = null;
        float[][] batches = [];
        for (int c = 0; c < configs.Count; c++)
        {
            if (cachedKind != configs[c].Workload)
            {
                // Every policy of a workload routes the very same batches.
                batches = SimulateRunner.Batches(configs[c]);
                cachedKind = configs[c].Workload;
            }

            if (sweep)
            {
                Console.Error.WriteLine($"[{c + 1}/{configs.Count}] {SimulateNames.Workload(configs[c].Workload)} {configs[c].Label}");
            }

            results.Add(SimulateRunner.Run(configs[c], batches));
        }

        if (json)
        {
            object payload = results.Count == 1 ? ToJson(results[0]) : results.Select(ToJson).ToArray();
            Console.Out.WriteLine(JsonSerializer.Serialize(payload, JsonOptions));
        }
        else if (sweep)
        {
            Console.Out.Write(MarkdownTable(results));
        }
        else
        {
            Console.Out.Write(ReadableTable(results));
        }

        if (csvPath is not null)
        {
            WriteCsv(csvPath, results);
            Console.Error.WriteLine($"wrote {csvPath}");
        }

        if (plotPath is not null)
        {
            foreach (string written in SimulatePlot.Write(plotPath, results, perWorkload: sweep || request.Workloads.Count > 1))
            {
                Console.Error.WriteLine($"wrote {written}");
            }
        }

        return 0;
    }

    private static SimulateJson ToJson(SimulateResult r)
    {
        SimulateConfig c = r.Config;
        bool bip = c.Method == Router.RoutingMethod.Bip;
        return new SimulateJson(
            Policy: SimulateNames.Method(c.Method),
            Label: c.Label,
            Workload: SimulateNames.Workload(c.Workload),
            Tokens: c.Tokens,
            Experts: c.Experts,
            TopK: c.TopK,
            Batches: c.Batches,
            Seed: c.Seed,
            Iterations: bip ? c.Bip.Iterations : null,
            Clip: bip ? SimulateNames.Clip(c.Bip.Clip) : null,
            Order: bip ? SimulateNames.Order(c.Bip.Order) : null,
            WarmStart: bip ? c.Bip.WarmStart : null,
            Statistic: bip ? (c.Bip.Statistic == Router.OrderStatisticMode.Exact ? "exact" : "quantile") : null,
            UpdateRate: c.Method == Router.RoutingMethod.LossFree ? c.LossFree.UpdateRate : null,
            CapacityFactor: c.CapacityFactor,
            FirstBatchMaxVio: Round(r.FirstBatchMaxVio),
            AvgMaxVio: Round(r.AvgMaxVio),
            SupMaxVio: Round(r.SupMaxVio),
            LastMaxVio: Round(r.LastMaxVio),
            GlobalMaxVio: Round(r.GlobalMaxVio),
            ScoreRetention: Round(r.ScoreRetention),
            RouteNsPerToken: Math.Round(r.RouteNsPerToken, 1),
            LastBatchNegativeTokenDualShare: r.NegativeTokenDualShare is double share ? Round(share) : null);
    }

    private static double Round(double v) => Math.Round(v, 5);

    private static string ReadableTable(IReadOnlyList<SimulateResult> results)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"workload",-8} {"policy",-45} {"first",7} {"avg",7} {"last10",7} {"sup",7} {"global",7} {"retain",7} {"ns/tok",8}");
        foreach (SimulateResult r in results)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"{SimulateNames.Workload(r.Config.Workload),-8} {r.Config.Label,-45} {r.FirstBatchMaxVio,7:F4} {r.AvgMaxVio,7:F4} {r.LastMaxVio,7:F4} {r.SupMaxVio,7:F4} {r.GlobalMaxVio,7:F4} {r.ScoreRetention,7:F4} {r.RouteNsPerToken,8:F1}");
        }

        SimulateConfig first = results[0].Config;
        sb.AppendLine(CultureInfo.InvariantCulture, $"n={first.Tokens} m={first.Experts} k={first.TopK} batches={first.Batches} seed={first.Seed}; MaxVio columns: first batch, mean over batches, mean of the last 10, max, of the summed loads.");
        return sb.ToString();
    }

    private static string MarkdownTable(IReadOnlyList<SimulateResult> results)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| workload | policy | T | clip | order | start | statistic | firstBatchMaxVio | avgMaxVio | lastMaxVio | supMaxVio | scoreRetention | ns/token |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (SimulateResult r in results)
        {
            SimulateConfig c = r.Config;
            bool bip = c.Method == Router.RoutingMethod.Bip;
            string t = bip ? c.Bip.Iterations.ToString(CultureInfo.InvariantCulture) : "";
            string clip = bip ? SimulateNames.Clip(c.Bip.Clip) : "";
            string order = bip ? SimulateNames.Order(c.Bip.Order) : "";
            string start = bip ? (c.Bip.WarmStart ? "warm" : "cold") : "";
            string statistic = bip ? (c.Bip.Statistic == Router.OrderStatisticMode.Exact ? "exact" : "quantile") : "";
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {SimulateNames.Workload(c.Workload)} | {SimulateNames.Method(c.Method)} | {t} | {clip} | {order} | {start} | {statistic} | {r.FirstBatchMaxVio:F4} | {r.AvgMaxVio:F4} | {r.LastMaxVio:F4} | {r.SupMaxVio:F4} | {r.ScoreRetention:F4} | {r.RouteNsPerToken:F1} |");
        }

        return sb.ToString();
    }

    private static void WriteCsv(string path, IReadOnlyList<SimulateResult> results)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }

        var sb = new StringBuilder();
        sb.Append("batch");
        foreach (SimulateResult r in results)
        {
            sb.Append(',').Append('"').Append(SimulateNames.Workload(r.Config.Workload)).Append(' ').Append(r.Config.Label).Append('"');
        }

        sb.AppendLine();
        int batches = results.Max(r => r.MaxVioPerBatch.Length);
        for (int b = 0; b < batches; b++)
        {
            sb.Append(b + 1);
            foreach (SimulateResult r in results)
            {
                sb.Append(',');
                if (b < r.MaxVioPerBatch.Length)
                {
                    sb.Append(r.MaxVioPerBatch[b].ToString("R", CultureInfo.InvariantCulture));
                }
            }

            sb.AppendLine();
        }

        File.WriteAllText(path, sb.ToString());
    }
}

/// <summary>The JSON shape of one simulated configuration.</summary>
internal sealed record SimulateJson(
    string Policy,
    string Label,
    string Workload,
    int Tokens,
    int Experts,
    int TopK,
    int Batches,
    int Seed,
    int? Iterations,
    string? Clip,
    string? Order,
    bool? WarmStart,
    string? Statistic,
    float? UpdateRate,
    double? CapacityFactor,
    double FirstBatchMaxVio,
    double AvgMaxVio,
    double SupMaxVio,
    double LastMaxVio,
    double GlobalMaxVio,
    double ScoreRetention,
    double RouteNsPerToken,
    double? LastBatchNegativeTokenDualShare);
