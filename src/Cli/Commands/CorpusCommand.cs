using System.CommandLine;
using System.Diagnostics;
using System.Globalization;

using MoeServe.Text.Corpus;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>corpus</c>: builds data/corpus/train.txt, validation.txt and split.json from Debian text packages
/// (installing them with apt-get when run as root) or from <c>--input PATH</c>.
/// </summary>
internal static class CorpusCommand
{
    private static readonly string[] KnownSources = ["bible", "fortunes", "devil"];

    public static Command Create()
    {
        var source = new Option<string[]>("--source")
        {
            Description = "Debian text sources: bible (bible-kjv, bible-kjv-text), fortunes (fortunes, fortunes-min), devil (dict-devil). Repeat the flag for several.",
            DefaultValueFactory = _ => ["bible", "fortunes"],
            AllowMultipleArgumentsPerToken = true,
        };
        source.AcceptOnlyFromAmong(KnownSources);
        var input = new Option<string?>("--input") { Description = "A plain UTF-8 text file or folder to use instead of the Debian sources (add --source to use both)." };
        var output = new Option<string>("--out") { Description = "Output directory.", DefaultValueFactory = _ => "data/corpus" };
        var fraction = new Option<double>("--validation-fraction") { Description = "Target share of each source held out for validation, in whole books/files.", DefaultValueFactory = _ => 0.05 };
        var seed = new Option<int>("--seed") { Description = "Seed of the held-out group choice.", DefaultValueFactory = _ => 1 };
        var noInstall = new Option<bool>("--no-install") { Description = "Never run apt-get; print the install command instead." };

        var command = new Command("corpus", "Build the training corpus (train.txt, validation.txt, split.json) from Debian text packages or --input.")
        {
            source, input, output, fraction, seed, noInstall,
        };
        command.SetAction(parse =>
        {
            string? inputPath = parse.GetValue(input);
            bool sourcesGiven = parse.GetResult(source) is { Implicit: false };
            var names = inputPath is null || sourcesGiven ? parse.GetValue(source) ?? [] : [];
            var options = new CorpusOptions { OutputDirectory = parse.GetValue(output)!, ValidationFraction = parse.GetValue(fraction), Seed = parse.GetValue(seed) };
            return Run(names, inputPath, options, parse.GetValue(noInstall));
        });
        return command;
    }

    private static int Run(IReadOnlyList<string> names, string? inputPath, CorpusOptions options, bool noInstall)
    {
        var errors = options.Validate().ToList();
        if (inputPath is not null && !File.Exists(inputPath) && !Directory.Exists(inputPath))
        {
            errors.Add($"--input: '{inputPath}' is neither a file nor a folder.");
        }

        if (errors.Count > 0)
        {
            foreach (string error in errors)
            {
                Console.Error.WriteLine("error: " + error);
            }

            return 2;
        }

        var sources = new List<ICorpusSource>();
        foreach (string name in names.Distinct(StringComparer.Ordinal))
        {
            sources.Add(name switch
            {
                "bible" => new KjvBibleSource(),
                "fortunes" => new FortuneSource(),
                _ => new DevilsDictionarySource(),
            });
        }

        if (inputPath is not null)
        {
            sources.Add(new PlainTextSource(inputPath));
        }

        var missing = sources.Where(s => !s.IsAvailable()).SelectMany(s => s.DebianPackages).Distinct(StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
        {
            if (noInstall || !DebianPackageInstaller.CanInstall)
            {
                Console.Error.WriteLine($"Missing Debian packages: {string.Join(", ", missing)}. Install them with:");
                Console.Error.WriteLine("  " + DebianPackageInstaller.InstallCommand(missing));
                return 2;
            }

            Console.WriteLine($"Installing missing Debian packages with apt-get (running as root): {string.Join(' ', missing)}");
            if (!DebianPackageInstaller.Install(missing, Console.Out) || sources.Any(s => !s.IsAvailable()))
            {
                Console.Error.WriteLine("error: apt-get could not install them. Try: " + DebianPackageInstaller.InstallCommand(missing));
                return 1;
            }
        }

        var clock = Stopwatch.StartNew();
        var report = new CorpusBuilder(options).Build(sources, new IndentedLines(Console.WriteLine));
        foreach (var split in report.Sources)
        {
            Console.WriteLine($"  {split.Name}: validation holds {split.Validation.Groups.Count} of {split.Train.Groups.Count + split.Validation.Groups.Count} groups " +
                $"({split.Validation.Bytes * 100.0 / Math.Max(1, split.Train.Bytes + split.Validation.Bytes):F1}% of bytes): {Shorten(split.Validation.Groups)}");
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Wrote {Path.Combine(options.OutputDirectory, CorpusBuilder.TrainFileName)}, {CorpusBuilder.ValidationFileName} and {CorpusBuilder.SplitFileName} in {clock.Elapsed.TotalSeconds:F1} s."));
        if (report.Normalization.Any(n => n.Contains("SKIPPED", StringComparison.Ordinal)))
        {
            Console.WriteLine("note: NFC normalisation skipped: this runtime runs in invariant globalization mode.");
        }

        return 0;
    }

    private static string Shorten(IReadOnlyList<string> groups) =>
        groups.Count <= 8 ? string.Join(", ", groups) : string.Join(", ", groups.Take(8)) + $", ... ({groups.Count - 8} more)";

    /// <summary>Writes progress lines synchronously (System.Progress would post them to the thread pool).</summary>
    private sealed class IndentedLines(Action<string> write) : IProgress<string>
    {
        public void Report(string value) => write("  " + value);
    }
}
