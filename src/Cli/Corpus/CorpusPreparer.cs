using System.Diagnostics;

using MoeServe.Runtime;
using MoeServe.Text.Corpus;
using MoeServe.Text.Tokenization;

namespace MoeServe.Cli.Corpus;

/// <summary>
/// Builds a corpus from named Debian sources and/or a plain-text input, installing missing packages
/// with apt-get when allowed. One implementation for the <c>corpus</c> command and for <c>eval</c>
/// and <c>bench</c>, which build the default corpus on first use so a fresh clone's first commands work.
/// </summary>
internal sealed class CorpusPreparer(TextWriter output, TextWriter error)
{
    /// <summary>Source names the CLI accepts.</summary>
    public static readonly string[] KnownSources = ["bible", "fortunes", "devil"];

    /// <summary>Sources of the default corpus (what <c>corpus</c> builds without flags).</summary>
    public static readonly string[] DefaultSources = ["bible", "fortunes"];

    /// <summary>The corpus directory <c>corpus</c> writes and eval/bench read by default.</summary>
    public const string DefaultDirectory = "data/corpus";

    /// <summary>Whether a --data value (eval, frontier, calibrate) names a file of the corpus directory: train or validation.</summary>
    public static bool NamesCorpusFile(string data) => data is "validation" or "train";

    /// <summary>The text file a --data value means: train or validation in <paramref name="corpusDirectory"/>, anything else a path.</summary>
    public static string DataPath(string data, string corpusDirectory) =>
        NamesCorpusFile(data) ? Path.Combine(corpusDirectory, data + ".txt") : data;

    /// <summary>
    /// The token ids of a text file (eval's, frontier's and calibrate's --data) as training's validation stream has
    /// them: documents, each followed by &lt;|endoftext|&gt; (id 0 when the model names none).
    /// </summary>
    public static int[] Encode(MoeEngine engine, string path) =>
        new CorpusEncoder(engine.Tokenizer, Math.Max(0, engine.EndOfTextTokenId)).EncodeFile(path);

    /// <summary>How README runs the CLI; messages name commands in this copy-pasteable form.</summary>
    public const string CliInvocation = "dotnet run --project src/Cli -c Release --";

    /// <summary>The source called <paramref name="name"/> (one of <see cref="KnownSources"/>).</summary>
    public static ICorpusSource CreateSource(string name) => name switch
    {
        "bible" => new KjvBibleSource(),
        "fortunes" => new FortuneSource(),
        "devil" => new DevilsDictionarySource(),
        _ => throw new ArgumentException($"Unknown corpus source '{name}'; known: {string.Join(", ", KnownSources)}.", nameof(name)),
    };

    /// <summary>
    /// Builds the corpus; returns an exit code: 0 built, 2 packages missing and not installable here
    /// (the install command is printed), 1 apt-get failed.
    /// </summary>
    /// <param name="sources">Sources in file order.</param>
    /// <param name="options">Validated corpus options.</param>
    /// <param name="allowInstall">Whether apt-get may run (only as root in any case).</param>
    /// <param name="rerun">What to run after a manual install, e.g. the corpus command line.</param>
    public int Build(IReadOnlyList<ICorpusSource> sources, CorpusOptions options, bool allowInstall, string rerun)
    {
        var missing = CorpusBuilder.MissingPackages(sources);
        if (missing.Count > 0)
        {
            if (!allowInstall || !DebianPackageInstaller.CanInstall)
            {
                error.WriteLine($"Missing Debian packages: {string.Join(", ", missing)}. Install them with:");
                error.WriteLine("  " + DebianPackageInstaller.InstallCommand(missing));
                error.WriteLine($"then run: {rerun}");
                return 2;
            }

            output.WriteLine($"Installing missing Debian packages with apt-get (running as root): {string.Join(' ', missing)}");
            if (!DebianPackageInstaller.Install(missing, output) || CorpusBuilder.MissingPackages(sources).Count > 0)
            {
                error.WriteLine("error: apt-get could not install them. Try: " + DebianPackageInstaller.InstallCommand(missing));
                return 1;
            }
        }

        var clock = Stopwatch.StartNew();
        CorpusSplitReport report;
        try
        {
            report = new CorpusBuilder(options).Build(sources, new IndentedLines(output));
        }
        catch (MissingCorpusPackagesException e)
        {
            // A package was removed between the check and the read: report it the same way.
            error.WriteLine("error: " + e.Message + " Install them with: " + DebianPackageInstaller.InstallCommand(e.Packages));
            return 2;
        }

        foreach (var split in report.Sources)
        {
            output.WriteLine($"  {split.Name}: validation holds {split.Validation.Groups.Count} of {split.Train.Groups.Count + split.Validation.Groups.Count} groups " +
                $"({split.Validation.Bytes * 100.0 / Math.Max(1, split.Train.Bytes + split.Validation.Bytes):F1}% of bytes): {Shorten(split.Validation.Groups)}");
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Wrote {Path.Combine(options.OutputDirectory, CorpusBuilder.TrainFileName)}, {CorpusBuilder.ValidationFileName} and {CorpusBuilder.SplitFileName} in {clock.Elapsed.TotalSeconds:F1} s."));
        if (report.Normalization.Any(n => n.Contains("SKIPPED", StringComparison.Ordinal)))
        {
            output.WriteLine("note: NFC normalisation skipped: this runtime runs in invariant globalization mode.");
        }

        return 0;
    }

    /// <summary>
    /// Builds the default corpus into <paramref name="directory"/> when its train.txt or validation.txt
    /// is missing (eval and bench on a fresh clone); returns 0 when the files exist afterwards.
    /// </summary>
    /// <param name="directory">The corpus directory (--corpus-dir).</param>
    /// <param name="allowInstall">Whether apt-get may run.</param>
    public int EnsureDefaultCorpus(string directory, bool allowInstall)
    {
        if (File.Exists(Path.Combine(directory, CorpusBuilder.TrainFileName)) && File.Exists(Path.Combine(directory, CorpusBuilder.ValidationFileName)))
        {
            return 0;
        }

        output.WriteLine($"{Path.Combine(directory, CorpusBuilder.ValidationFileName)} not found: building the corpus first (sources {string.Join(", ", DefaultSources)}; once, later runs reuse it) ...");
        string corpus = directory == DefaultDirectory ? $"{CliInvocation} corpus" : $"{CliInvocation} corpus --out {directory}";
        string rerun = $"this command again (it builds the corpus), or `{corpus}` to build the corpus alone";
        return Build([.. DefaultSources.Select(CreateSource)], new CorpusOptions { OutputDirectory = directory }, allowInstall, rerun);
    }

    private static string Shorten(IReadOnlyList<string> groups) =>
        groups.Count <= 8 ? string.Join(", ", groups) : string.Join(", ", groups.Take(8)) + $", ... ({groups.Count - 8} more)";

    /// <summary>Writes progress lines synchronously (System.Progress would post them to the thread pool).</summary>
    private sealed class IndentedLines(TextWriter output) : IProgress<string>
    {
        public void Report(string value) => output.WriteLine("  " + value);
    }
}
