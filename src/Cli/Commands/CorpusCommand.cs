using MoeServe.Cli.Corpus;
using MoeServe.Text.Corpus;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>corpus</c>: builds data/corpus/train.txt, validation.txt and split.json from Debian text packages
/// (installing them with apt-get when run as root) or from <c>--input PATH</c>.
/// </summary>
internal static class CorpusCommand
{
    public static Command Create()
    {
        var source = new Option<string[]>("--source")
        {
            Description = "Debian text sources: bible (bible-kjv, bible-kjv-text), fortunes (fortunes, fortunes-min), devil (dict-devil). Repeat the flag for several.",
            DefaultValueFactory = _ => CorpusPreparer.DefaultSources,
            AllowMultipleArgumentsPerToken = true,
        };
        source.AcceptOnlyFromAmong(CorpusPreparer.KnownSources);
        var input = new Option<string?>("--input") { Description = "A plain UTF-8 text file or folder to use instead of the Debian sources (add --source to use both)." };
        var output = new Option<string>("--out") { Description = "Output directory.", DefaultValueFactory = _ => CorpusPreparer.DefaultDirectory };
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
            return CliErrors.Fail(errors);
        }

        var sources = names.Distinct(StringComparer.Ordinal).Select(CorpusPreparer.CreateSource).ToList();
        if (inputPath is not null)
        {
            sources.Add(new PlainTextSource(inputPath));
        }

        return new CorpusPreparer(Console.Out, Console.Error).Build(sources, options, !noInstall, "this command again");
    }
}
