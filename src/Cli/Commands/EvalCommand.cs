using System.Text.Json;

using MoeServe.Cli.Corpus;
using MoeServe.Model;
using MoeServe.Router;
using MoeServe.Runtime;
using MoeServe.Runtime.Evaluation;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>eval</c>: perplexity of an exported model through the ONNX runtime on a corpus file, with the same
/// windows as training's validation (consecutive, non-overlapping windows of --seq-len tokens, each
/// predicting the next token), plus MaxVio_global per layer and tokens/s.
/// </summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var flags = new GenerateRuntimeFlags();
        var data = new Option<string>("--data") { Description = "validation or train (a file in --corpus-dir), or the path of a corpus text file.", DefaultValueFactory = _ => "validation" };
        var corpusDir = new Option<string>("--corpus-dir") { Description = "Directory of train.txt and validation.txt (built by `corpus`; built here with the default sources when missing).", DefaultValueFactory = _ => CorpusPreparer.DefaultDirectory };
        var noInstall = new Option<bool>("--no-install") { Description = "When the corpus has to be built, never run apt-get; print the install command instead." };
        var tokens = new Option<int?>("--tokens") { Description = "Tokens to evaluate (default: the training summary's validationTokens, else 131072; 0 = all)." };
        var seqLen = new Option<int?>("--seq-len") { Description = "Window length (default: the model's context length, as training validates)." };
        var batch = new Option<int>("--batch") { Description = "Windows per forward step.", DefaultValueFactory = _ => 8 };
        var json = CliOptions.Json("Print one JSON object (perplexity, maxVioGlobal, tokensPerSecond, ...) instead of text.");
        var command = new Command("eval", "Perplexity, MaxVio_global and tokens/s of an exported model through the ONNX runtime.")
        {
            data, corpusDir, tokens, seqLen, batch, json, noInstall,
        };
        flags.AddTo(command);

        command.SetAction((parse, cancellation) =>
        {
            var errors = new List<string>();
            string dataValue = parse.GetValue(data)!;
            string path = CorpusPreparer.DataPath(dataValue, parse.GetValue(corpusDir)!);
            if (CorpusPreparer.NamesCorpusFile(dataValue) && !File.Exists(path))
            {
                // A fresh clone has no corpus yet: build it rather than send the newcomer to another command.
                // Progress goes to stderr so --json output stays one object.
                int built = new CorpusPreparer(Console.Error, Console.Error).EnsureDefaultCorpus(parse.GetValue(corpusDir)!, !parse.GetValue(noInstall));
                if (built != 0)
                {
                    return Task.FromResult(built);
                }
            }

            if (!File.Exists(path))
            {
                errors.Add($"--data: corpus file not found: {path} (build it with `corpus`, or pass a file path).");
            }

            int windowsPerStep = parse.GetValue(batch);
            if (windowsPerStep < 1)
            {
                errors.Add($"--batch must be >= 1, got {windowsPerStep}.");
            }

            if (parse.GetValue(tokens) is < 0)
            {
                errors.Add($"--tokens must be >= 0, got {parse.GetValue(tokens)}.");
            }

            var options = flags.Build(parse, errors, o => o with { MaxSequences = Math.Max(1, windowsPerStep) });
            if (errors.Count > 0)
            {
                return Task.FromResult(CliErrors.Fail(errors));
            }

            return Task.FromResult(Run(options, path, parse.GetValue(tokens), parse.GetValue(seqLen), windowsPerStep, parse.GetValue(json), cancellation));
        });
        return command;
    }

    private static int Run(RuntimeOptions options, string path, int? tokenLimit, int? seqLen, int windowsPerStep, bool json, CancellationToken cancellation)
    {
        try
        {
            // The manifest alone sizes the windows, so the engine is created once with buffers that fit.
            string directory = File.Exists(options.ModelPath) ? Path.GetDirectoryName(Path.GetFullPath(options.ModelPath))! : options.ModelPath;
            var manifest = ModelManifest.Load(directory);
            int context = manifest.Config.ContextLength;
            int length = seqLen ?? context;
            if (length < 2 || length > context)
            {
                return CliErrors.Fail([$"--seq-len must be in 2..{context} (the model's context length), got {length}."]);
            }

            int limit = tokenLimit ?? ReadSummaryValidationTokens(manifest) ?? 131072;
            using var engine = MoeEngine.Load(options with { MaxBatchTokens = length * windowsPerStep });
            if (!json)
            {
                GenerateRuntimeFlags.PrintDevices(engine);
            }

            var result = Evaluate(engine, path, length, limit, windowsPerStep, cancellation);
            if (json)
            {
                Console.WriteLine(JsonSerializer.Serialize(result, ReportJson.Options));
            }
            else
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"perplexity {result.Perplexity:F3} (loss {result.Loss:F4}) over {result.Tokens} tokens in {result.Windows} windows of {result.SequenceLength}"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"MaxVio_global {result.MaxVioGlobal:F3} (per layer: {string.Join(", ", result.MaxVioGlobalPerLayer.Select(v => v.ToString("F3", CultureInfo.InvariantCulture)))}), routing {result.Routing}, q from {result.QSource} x {result.QScale:0.###}"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{result.TokensPerSecond:F0} tokens/s ({result.Seconds:F1} s)"));
                if (result.TrainingValidationPerplexity is double trained)
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"training summary's validation perplexity {trained:F3}: relative difference {result.RelativeDifference:P2}"));
                }
            }

            return 0;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidDataException or IOException or InvalidOperationException)
        {
            return CliErrors.Fail([ex.Message]);
        }
    }

    internal static EvalResult Evaluate(MoeEngine engine, string path, int length, int tokenLimit, int windowsPerStep, CancellationToken cancellation)
    {
        // The same encoding as training's validation stream: documents, each followed by <|endoftext|>.
        var ids = CorpusPreparer.Encode(engine, path);
        var r = new PerplexityEvaluator(engine).Evaluate(ids, length, tokenLimit, windowsPerStep, cancellation);
        double? trained = ReadSummaryDouble(engine.Manifest, "validationPerplexity");
        return new EvalResult(
            engine.ModelName,
            path,
            RoutingPolicyFactory.NameOf(engine.Options.Routing),
            r.Tokens,
            r.Windows,
            r.SequenceLength,
            r.Loss,
            r.Perplexity,
            r.MaxVioGlobal,
            r.MaxVioGlobalPerLayer,
            r.TokensPerSecond,
            r.Seconds,
            trained,
            trained is double p ? (r.Perplexity - p) / p : null,
            engine.Options.QScale,
            engine.Manifest.Routing.DescribeSource());
    }

    private static int? ReadSummaryValidationTokens(ModelManifest manifest)
    {
        double? value = ReadSummaryDouble(manifest, "validationTokens");
        return value is double d && d > 0 && d <= int.MaxValue ? (int)d : null;
    }

    private static double? ReadSummaryDouble(ModelManifest manifest, string name)
    {
        var node = manifest.Training?[name];
        return node is not null && node.GetValueKind() == JsonValueKind.Number ? node.GetValue<double>() : null;
    }
}

/// <summary>eval's result (its --json output).</summary>
internal sealed record EvalResult(
    string Model,
    string Data,
    string Routing,
    long Tokens,
    int Windows,
    int SequenceLength,
    double Loss,
    double Perplexity,
    double MaxVioGlobal,
    IReadOnlyList<double> MaxVioGlobalPerLayer,
    double TokensPerSecond,
    double Seconds,
    double? TrainingValidationPerplexity,
    double? RelativeDifference,
    double QScale = 1,
    string QSource = "");
