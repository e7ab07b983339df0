using MoeServe.Model;
using MoeServe.Model.Quantization;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>quantize</c>: an exported float model directory (models/default among them) rewritten with int8 or
/// int4 expert and attention matrices (docs/model-format.md, "Quantized weights").
/// </summary>
internal static class QuantizeCommand
{
    public static Command Create()
    {
        var model = CliOptions.Model("The float model directory to read (manifest.json and graphs).");
        var output = CliOptions.Out("New (or empty) model directory to write.");
        var weights = new Option<string>(WeightsFlag.Name) { Description = "int8 or int4.", Required = true };
        var blockSize = new Option<int>("--block-size") { Description = "Weights per block along the input axis (a power of two, at least 16).", DefaultValueFactory = _ => QuantizationSettings.DefaultBlockSize };
        var zeroPoints = new Option<bool?>("--zero-points") { Description = "Store a zero point per block (true) or quantize symmetrically (false); default: the measured choice (int4 true, int8 false)." };
        var accuracy = new Option<int>("--accuracy-level") { Description = "MatMulNBits accuracy_level: 4 = int8 activations (default, measured fastest), 1 = float32 compute.", DefaultValueFactory = _ => QuantizationSettings.DefaultAccuracyLevel };
        var command = new Command("quantize", "Rewrite a float model directory with int8 or int4 expert and attention matrices (ONNX Runtime MatMulNBits).")
        {
            model, output, weights, blockSize, zeroPoints, accuracy,
        };
        command.SetAction((parse, cancellation) => Task.FromResult(Run(
            parse.GetValue(model)!,
            parse.GetValue(output)!,
            parse.GetValue(weights)!,
            parse.GetValue(blockSize),
            parse.GetValue(zeroPoints),
            parse.GetValue(accuracy),
            cancellation)));
        return command;
    }

    private static int Run(string model, string output, string weightsText, int blockSize, bool? zeroPoints, int accuracyLevel, CancellationToken cancellation)
    {
        var errors = new List<string>();
        var defaults = WeightsFlag.Parse(weightsText, allowFloat: false, errors);
        if (blockSize < 16 || (blockSize & (blockSize - 1)) != 0)
        {
            errors.Add($"--block-size must be a power of two, at least 16, got {blockSize}.");
        }

        if (accuracyLevel is < 0 or > 4)
        {
            errors.Add($"--accuracy-level must be 0-4, got {accuracyLevel}.");
        }

        if (defaults is null)
        {
            return CliErrors.Fail(errors);
        }

        var settings = defaults with { BlockSize = blockSize, ZeroPoints = zeroPoints ?? defaults.ZeroPoints, AccuracyLevel = accuracyLevel };
        errors.AddRange(ModelQuantizer.Validate(model, output, settings).Where(e => !errors.Contains(e) && !e.StartsWith(WeightsFlag.Name, StringComparison.Ordinal)));
        if (errors.Count > 0)
        {
            return CliErrors.Fail(errors);
        }

        try
        {
            Console.WriteLine($"quantizing {model} -> {output} ({settings.Mode.DisplayName()}, block {settings.BlockSize}, {(settings.ZeroPoints ? "zero points" : "symmetric")}, accuracy_level {settings.AccuracyLevel})");
            var result = new ModelQuantizer().Quantize(model, output, settings, new ExportProgressPrinter(Console.Out), cancellation);
            var e = result.Error;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"done: {result.Files} files, {result.TotalBytes / 1e6:F2} MB (float model {result.SourceBytes / 1e6:F2} MB, {(double)result.TotalBytes / result.SourceBytes:P0}) in {result.Elapsed.TotalSeconds:F1} s -> {Path.Combine(output, ModelManifest.FileName)}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round trip: {e.Matrices} matrices, {e.Weights:N0} weights in {e.StoredBytes / 1e6:F2} MB; relative RMS error {e.RelativeRms:G3}, max |error| {e.MaxAbsError:G3}"));
            return 0;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("quantize cancelled; --out has no manifest.json and is incomplete.");
            return 130;
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or ArgumentException or UnauthorizedAccessException or System.Text.Json.JsonException or KeyNotFoundException)
        {
            return CliErrors.Fail([ex.Message]);
        }
    }
}
