using MoeServe.Training.Compare;
using MoeServe.Training.Data;
using MoeServe.Training.Native;
using MoeServe.Training.Routing;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>compare</c>: trains none, aux, lossfree and bip with the same seed, data order and budget,
/// then writes report.md, summary.json and plots (docs/paper-reproduction.md).
/// </summary>
internal static class CompareCommand
{
    public static Command Create()
    {
        var flags = new TrainingFlags();
        var methods = new Option<string[]>("--methods")
        {
            Description = "Methods to train, in order.",
            DefaultValueFactory = _ => ["none", "aux", "lossfree", "bip"],
            AllowMultipleArgumentsPerToken = true,
        };
        var reportOnly = new Option<bool>("--report-only") { Description = "Only (re)write the report from the finished runs in --out." };
        var command = flags.NewCommand("compare", "Train every balancing method on the same budget (--max-minutes applies per method) and write a report with plots and summary.json.", methods, reportOnly);
        command.SetAction((parse, cancellation) => Task.FromResult(Run(parse, flags, methods, reportOnly, cancellation)));
        return command;
    }

    private static int Run(ParseResult parse, TrainingFlags flags, Option<string[]> methodsOption, Option<bool> reportOnly, CancellationToken cancellation)
    {
        var errors = new List<string>();
        var methods = new List<BalanceMethod>();
        foreach (string name in parse.GetValue(methodsOption) ?? [])
        {
            if (BalanceMethodNames.TryParse(name, out var method))
            {
                methods.Add(method);
            }
            else
            {
                errors.Add($"--methods: unknown method '{name}' (none, aux, lossfree, bip).");
            }
        }

        var read = flags.Read(parse, BalanceMethod.None, errors);
        if (errors.Count > 0 || read is null)
        {
            return CliErrors.Fail(errors);
        }

        var (preset, options) = read.Value;
        string output = parse.GetValue(flags.Out) ?? Path.Combine("runs", $"compare-{preset.Name}");
        try
        {
            if (parse.GetValue(reportOnly))
            {
                CompareRunner.WriteReport(output, preset.Name, options.Steps, methods);
                Console.WriteLine($"report: {Path.Combine(output, "report.md")}");
                return 0;
            }

            MallocTuning.Apply(Console.Out);

            Console.WriteLine($"encoding {parse.GetValue(flags.Corpus)} with {parse.GetValue(flags.Tokenizer)} ...");
            var data = TrainingData.Load(parse.GetValue(flags.Corpus)!, parse.GetValue(flags.Tokenizer)!);
            var config = TrainingFlags.ModelFor(preset, data.VocabSize);
            var summary = new CompareRunner(Console.Out).Run(options, config, data, output, methods, flags.TimeLimit(parse), cancellation);
            if (summary is null)
            {
                Console.WriteLine("interrupted; run the same command again to continue");
                return 130;
            }

            Console.WriteLine($"report: {Path.Combine(output, "report.md")}");
            return 0;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or InvalidOperationException or ArgumentException or UnauthorizedAccessException)
        {
            return CliErrors.Fail([ex.Message]);
        }
    }
}
