using MoeServe.Cli.Corpus;
using MoeServe.Model;
using MoeServe.Runtime;
using MoeServe.Runtime.Calibration;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>calibrate</c>: computes a serving q for a model from calibration text (<see cref="QCalibrator"/>) and
/// writes it into the model's manifest with its source, keeping the replaced q (<c>--restore</c> brings it back).
/// </summary>
internal static class CalibrateCommand
{
    public static Command Create()
    {
        var model = CliOptions.Model("Model directory (models/NAME, with manifest.json): exported or imported.");
        var data = new Option<string>("--data") { Description = "Calibration text: train or validation (a file in --corpus-dir), or the path of a text file.", DefaultValueFactory = _ => "train" };
        var corpusDir = new Option<string>("--corpus-dir") { Description = "Directory of train.txt and validation.txt (from `corpus`).", DefaultValueFactory = _ => CorpusPreparer.DefaultDirectory };
        var tokens = new Option<long>("--tokens") { Description = "Tokens to run over (whole batches; 0 = all the text).", DefaultValueFactory = _ => 262144 };
        var batchTokens = new Option<int>("--batch-tokens") { Description = "n, tokens per BIP batch (one forward step, one BIP update per layer).", DefaultValueFactory = _ => CalibrationOptions.DefaultBatchTokens };
        var iterations = new Option<int>("--iterations") { Description = "T, BIP dual iterations per batch.", DefaultValueFactory = _ => Router.BipOptions.DefaultIterations };
        var seqLen = new Option<int?>("--seq-len") { Description = "Window length (default: min(context length, --batch-tokens))." };
        var window = new Option<int>("--average-window") { Description = "Batches in the running average of q (the mean of the first W, then exponential with rate 1/W).", DefaultValueFactory = _ => Router.QAverage.DefaultWindow };
        var inOrder = new Option<bool>("--in-order") { Description = "Take windows in text order instead of drawing them from the whole text (seed --seed)." };
        var seed = new Option<int>("--seed") { Description = "Seed of the window order.", DefaultValueFactory = _ => 1 };
        var fromZero = new Option<bool>("--from-zero") { Description = "Start BIP from q = 0 instead of the model's current q." };
        var workers = new Option<int>("--workers") { Description = "Threads that run a step's experts.", DefaultValueFactory = _ => 2 };
        var restore = new Option<bool>("--restore") { Description = "Serve the previous q again (the one the last calibrate replaced) and keep the current one as previous; nothing is computed." };
        var command = new Command("calibrate", "Calibrate a model's serving q on text: BIP per batch of n tokens, averaged as training averages, written into manifest.json (previous q kept).")
        {
            model, data, corpusDir, tokens, batchTokens, iterations, seqLen, window, inOrder, seed, fromZero, workers, restore,
        };

        command.SetAction((parse, cancellation) =>
        {
            string directory = parse.GetValue(model)!;
            if (parse.GetValue(restore))
            {
                return Task.FromResult(GenerateRuntimeFlags.Run(() => Restore(directory)));
            }

            var errors = new List<string>();
            string path = CorpusPreparer.DataPath(parse.GetValue(data)!, parse.GetValue(corpusDir)!);
            if (!File.Exists(path))
            {
                errors.Add($"--data: text file not found: {path} (build the corpus with `corpus`, or pass a file path).");
            }

            var options = new CalibrationOptions
            {
                BatchTokens = parse.GetValue(batchTokens),
                Iterations = parse.GetValue(iterations),
                SequenceLength = parse.GetValue(seqLen),
                Tokens = parse.GetValue(tokens),
                AverageWindow = parse.GetValue(window),
                StartFromCurrent = !parse.GetValue(fromZero),
                ShuffleSeed = parse.GetValue(inOrder) ? null : parse.GetValue(seed),
            };
            errors.AddRange(options.Validate().Select(FlagName));
            var runtime = new RuntimeOptions { ModelPath = directory, ExpertWorkers = parse.GetValue(workers) };
            errors.AddRange(runtime.Validate().Select(e => e.Replace("expertWorkers", "--workers", StringComparison.Ordinal)));
            if (errors.Count > 0)
            {
                return Task.FromResult(CliErrors.Fail(errors));
            }

            return Task.FromResult(GenerateRuntimeFlags.Run(() => Calibrate(runtime, path, options, cancellation)));
        });
        return command;
    }

    private static readonly (string Field, string Flag)[] Flags =
        [("batchTokens", "--batch-tokens"), ("iterations", "--iterations"), ("sequenceLength", "--seq-len"), ("tokens", "--tokens"), ("averageWindow", "--average-window")];

    // CalibrationOptions names its fields at the start of each error; the CLI names its flags.
    private static string FlagName(string error)
    {
        foreach (var (field, flag) in Flags)
        {
            if (error.StartsWith(field + " ", StringComparison.Ordinal))
            {
                return flag + error[field.Length..];
            }
        }

        return error;
    }

    private static int Calibrate(RuntimeOptions runtime, string path, CalibrationOptions options, CancellationToken cancellation)
    {
        string directory = runtime.ModelPath;
        var before = ModelManifest.Load(directory);
        Console.WriteLine($"calibrating {before.Name}: {before.Config.Layers} layers x {before.Config.Experts} experts (top-{before.Config.TopK}), q now from {before.Routing.DescribeSource()}");
        var calibrator = new QCalibrator(runtime);
        int lastPercent = -1;
        var result = calibrator.Run(
            engine => CorpusPreparer.Encode(engine, path),
            options,
            p =>
            {
                int percent = (int)(100L * p.Batch / p.Batches);
                if (percent / 5 != lastPercent / 5 || p.Batch == p.Batches)
                {
                    lastPercent = percent;
                    double rate = p.Tokens / Math.Max(1e-9, p.Elapsed.TotalSeconds);
                    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  batch {p.Batch}/{p.Batches} ({percent}%), {p.Tokens} tokens, {rate:F0} tokens/s, MaxVio_batch under BIP {p.BatchMaxVio:F3}"));
                }
            },
            cancellation);
        var source = new ManifestQSource
        {
            Data = path,
            Tokens = result.Tokens,
            BatchTokens = result.BatchTokens,
            Iterations = options.Iterations,
            AverageWindow = options.AverageWindow,
            StartedFromPrevious = options.StartFromCurrent,
            ShuffleSeed = options.ShuffleSeed,
            CreatedUtc = DateTimeOffset.UtcNow,
        };
        var after = ManifestQUpdate.WithCalibratedQ(before, result.Q, source);
        after.Save(directory);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote q into {Path.Combine(directory, ModelManifest.FileName)}: {result.Batches} batches of {result.BatchTokens} tokens (windows of {result.SequenceLength}), T = {options.Iterations}, {result.Seconds:F1} s; mean MaxVio_batch under BIP {result.MeanBatchMaxVio:F3}"));
        Console.WriteLine($"previous q (from {before.Routing.DescribeSource()}) kept: calibrate --model {directory} --restore");
        return 0;
    }

    private static int Restore(string directory)
    {
        var manifest = ModelManifest.Load(directory);
        var restored = ManifestQUpdate.Restore(manifest);
        restored.Save(directory);
        Console.WriteLine($"{directory}: serving q from {restored.Routing.DescribeSource()} again; q from {manifest.Routing.DescribeSource()} kept as previous");
        return 0;
    }
}
