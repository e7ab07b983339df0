using System.Text.Json;

using MoeServe.Cli.Corpus;
using MoeServe.Model;
using MoeServe.Router;
using MoeServe.Runtime;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>frontier</c>: the balance/quality frontier of a model on held-out text: MaxVio_global and perplexity for
/// q = 0, the previous (shipped) q, the served q scaled by each lambda, and online BIP, as a table, JSON and a plot.
/// </summary>
internal static class FrontierCommand
{
    public static Command Create()
    {
        var model = CliOptions.Model("Model directory (models/NAME).");
        var data = new Option<string>("--data") { Description = "Held-out text: validation or train (a file in --corpus-dir), or a file path.", DefaultValueFactory = _ => "validation" };
        var corpusDir = new Option<string>("--corpus-dir") { Description = "Directory of train.txt and validation.txt.", DefaultValueFactory = _ => CorpusPreparer.DefaultDirectory };
        var tokens = new Option<int>("--tokens") { Description = "Tokens to evaluate per setting (whole windows; 0 = all).", DefaultValueFactory = _ => 0 };
        var seqLen = new Option<int?>("--seq-len") { Description = "Window length (default: the model's context length)." };
        var batch = new Option<int>("--batch") { Description = "Windows per forward step (online BIP balances each step).", DefaultValueFactory = _ => 8 };
        var scales = new Option<string>("--scales") { Description = "Comma-separated lambdas for the served q.", DefaultValueFactory = _ => "0.25,0.5,0.75,1,1.5" };
        var workers = new Option<int>("--workers") { Description = "Threads that run a step's experts.", DefaultValueFactory = _ => 2 };
        var plot = new Option<string?>("--plot") { Description = "Write a PNG of MaxVio_global against perplexity, one point per setting." };
        var output = new Option<string?>("--out") { Description = "Write the rows as JSON to this file." };
        var command = new Command("frontier", "MaxVio_global and perplexity on held-out text for q = 0, the previous q, lambda x the served q, and online BIP.")
        {
            model, data, corpusDir, tokens, seqLen, batch, scales, workers, plot, output,
        };
        command.SetAction((parse, cancellation) =>
        {
            var errors = new List<string>();
            string path = CorpusPreparer.DataPath(parse.GetValue(data)!, parse.GetValue(corpusDir)!);
            if (!File.Exists(path))
            {
                errors.Add($"--data: text file not found: {path}.");
            }

            var lambdas = ParseScales(parse.GetValue(scales)!, errors);
            if (parse.GetValue(batch) < 1)
            {
                errors.Add($"--batch must be >= 1, got {parse.GetValue(batch)}.");
            }

            if (parse.GetValue(tokens) < 0)
            {
                errors.Add($"--tokens must be >= 0, got {parse.GetValue(tokens)}.");
            }

            var runtime = new RuntimeOptions { ModelPath = parse.GetValue(model)!, ExpertWorkers = parse.GetValue(workers), MaxSequences = Math.Max(1, parse.GetValue(batch)) };
            errors.AddRange(runtime.Validate().Select(e => e.Replace("expertWorkers", "--workers", StringComparison.Ordinal)));
            if (errors.Count > 0)
            {
                return Task.FromResult(CliErrors.Fail(errors));
            }

            return Task.FromResult(GenerateRuntimeFlags.Run(() =>
            {
                var rows = Measure(runtime, path, parse.GetValue(tokens), parse.GetValue(seqLen), parse.GetValue(batch), lambdas, cancellation);
                Print(rows);
                if (parse.GetValue(output) is { } file)
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
                    File.WriteAllText(file, JsonSerializer.Serialize(rows, ReportJson.Options) + "\n");
                }

                if (parse.GetValue(plot) is { } png)
                {
                    FrontierPlot.Write(png, Path.GetFileName(Path.GetFullPath(runtime.ModelPath)), rows);
                    Console.WriteLine($"wrote {png}");
                }

                return 0;
            }));
        });
        return command;
    }

    internal static IReadOnlyList<double> ParseScales(string text, List<string> errors)
    {
        var values = new List<double>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value) || value < 0 || value > RuntimeOptions.MaxQScale)
            {
                errors.Add($"--scales: '{part}' is not a number in [0, {RuntimeOptions.MaxQScale}].");
                continue;
            }

            values.Add(value);
        }

        if (values.Count == 0 && errors.Count == 0)
        {
            errors.Add("--scales needs at least one value.");
        }

        return values;
    }

    private static List<FrontierRow> Measure(RuntimeOptions runtime, string path, int tokens, int? seqLen, int windowsPerStep, IReadOnlyList<double> lambdas, CancellationToken cancellation)
    {
        var manifest = ModelManifest.Load(runtime.ModelPath);
        int length = seqLen ?? manifest.Config.ContextLength;
        var baseOptions = runtime with { MaxBatchTokens = length * windowsPerStep };
        string served = manifest.Routing.DescribeSource();
        var settings = new List<(string Name, string Q, double? Lambda, RuntimeOptions Options)>
        {
            ("q = 0 (plain top-K)", "none", null, baseOptions with { Routing = RoutingMethod.TopK }),
        };
        if (manifest.Routing.PreviousQ is { } previous)
        {
            string name = previous.QSource is null ? $"previous q: export ({previous.Method})" : "previous q: " + previous.QSource.Kind;
            settings.Add((name, "previous", 1.0, baseOptions with { QOverride = previous.Q }));
        }

        foreach (double lambda in lambdas)
        {
            settings.Add((string.Create(CultureInfo.InvariantCulture, $"served q x {lambda:0.##}"), served, lambda, baseOptions with { QScale = lambda }));
        }

        settings.Add(("online BIP (per step)", "served, refined per step", null, baseOptions with { Routing = RoutingMethod.Bip }));

        int[]? ids = null;
        var rows = new List<FrontierRow>();
        foreach (var (name, q, lambda, options) in settings)
        {
            cancellation.ThrowIfCancellationRequested();
            using var engine = MoeEngine.Load(options);
            ids ??= CorpusPreparer.Encode(engine, path);
            var r = new Runtime.Evaluation.PerplexityEvaluator(engine).Evaluate(ids, length, tokens, windowsPerStep, cancellation);
            double baseline = rows.Count > 0 ? rows[0].Perplexity : r.Perplexity;
            var row = new FrontierRow(name, q, lambda, r.Perplexity, (r.Perplexity - baseline) / baseline, r.MaxVioGlobal, r.MaxVioGlobalPerLayer, r.Tokens);
            rows.Add(row);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name}: perplexity {row.Perplexity:F3}, MaxVio_global {row.MaxVioGlobal:F3} ({r.Seconds:F0} s)"));
        }

        return rows;
    }

    private static void Print(IReadOnlyList<FrontierRow> rows)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"held-out: {rows[0].Tokens} tokens per setting");
        Console.WriteLine("| setting | lambda | perplexity | vs q = 0 | MaxVio_global | per layer |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var r in rows)
        {
            Console.WriteLine(string.Create(c, $"| {r.Setting} | {(r.Lambda is double l ? l.ToString("0.##", c) : "-")} | {r.Perplexity:F3} | {r.PerplexityChange:+0.00%;-0.00%;0.00%} | {r.MaxVioGlobal:F3} | {string.Join(" / ", r.MaxVioGlobalPerLayer.Select(v => v.ToString("F2", c)))} |"));
        }
    }
}

/// <summary>One point of the frontier.</summary>
internal sealed record FrontierRow(string Setting, string Q, double? Lambda, double Perplexity, double PerplexityChange, double MaxVioGlobal, IReadOnlyList<double> MaxVioGlobalPerLayer, long Tokens);
