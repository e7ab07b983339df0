using MoeServe.Model.Export;
using MoeServe.Model.Onnx;

namespace MoeServe.Model.Quantization;

/// <summary>
/// <c>quantize</c>: rewrites an exported float model directory with its expert and attention matrices
/// blockwise quantized. The float weights are read back out of the graphs' initializers
/// (<see cref="ModelGraphTensorSource"/>), so no training checkpoint is needed; every graph is rebuilt by
/// the same <see cref="MoeGraphFactory"/> that export and import use, and the manifest is copied with
/// its quantization recorded, written last so a half-finished run never looks complete.
/// </summary>
public sealed class ModelQuantizer
{
    private readonly TimeProvider _time;

    /// <summary>Creates a quantizer.</summary>
    /// <param name="time">Clock for the manifest's timestamp and the elapsed time (system clock when null).</param>
    public ModelQuantizer(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Every problem with the arguments, each naming its flag; empty when valid.</summary>
    /// <param name="modelDirectory">--model.</param>
    /// <param name="outputDirectory">--out.</param>
    /// <param name="settings">How to quantize.</param>
    public static IReadOnlyList<string> Validate(string modelDirectory, string outputDirectory, QuantizationSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(modelDirectory) || !File.Exists(Path.Combine(modelDirectory, ModelManifest.FileName)))
        {
            errors.Add($"--model: no {ModelManifest.FileName} in '{modelDirectory}'.");
        }

        if (string.IsNullOrWhiteSpace(outputDirectory))
        {
            errors.Add("--out is required.");
        }
        else if (File.Exists(outputDirectory))
        {
            errors.Add($"--out: {outputDirectory} is a file, not a directory.");
        }
        else if (Directory.Exists(outputDirectory) && Directory.EnumerateFileSystemEntries(outputDirectory).Any())
        {
            errors.Add($"--out: {outputDirectory} is not empty; give a new directory.");
        }

        errors.AddRange(settings.Validate().Select(e => "--weights: " + e));
        return errors;
    }

    /// <summary>Quantizes; throws <see cref="InvalidDataException"/> listing every problem before writing anything.</summary>
    /// <param name="modelDirectory">An exported float model (models/NAME).</param>
    /// <param name="outputDirectory">A new or empty directory.</param>
    /// <param name="settings">How to quantize.</param>
    /// <param name="progress">Receives one report per file written.</param>
    /// <param name="cancellationToken">Stops between files.</param>
    public QuantizeResult Quantize(string modelDirectory, string outputDirectory, QuantizationSettings settings, IProgress<ExportProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        long start = _time.GetTimestamp();
        var errors = new List<string>(Validate(modelDirectory, outputDirectory, settings));
        if (errors.Count > 0)
        {
            throw new InvalidDataException(ErrorList.Format("Cannot quantize", errors));
        }

        var manifest = ModelManifest.Load(modelDirectory);
        if (manifest.Quantization is not null)
        {
            throw new InvalidDataException($"--model: {modelDirectory} is already {manifest.Weights.DisplayName()}; quantize a float model.");
        }

        var factory = new MoeGraphFactory(manifest.Config, new ModelGraphTensorSource(modelDirectory, manifest), manifest.WeightDType, settings);
        var graphs = factory.Plan();
        var expected = manifest.ReferencedFiles().Except(manifest.Tokenizer.Files()).Order(StringComparer.Ordinal);
        if (!graphs.Select(g => g.File).Order(StringComparer.Ordinal).SequenceEqual(expected))
        {
            throw new InvalidDataException($"--model: the graphs listed in {Path.Combine(modelDirectory, ModelManifest.FileName)} are not the ones this build writes for its config; re-export it first.");
        }

        Directory.CreateDirectory(outputDirectory);
        string[] tokenizerFiles = [.. manifest.Tokenizer.Files()];
        int total = graphs.Count + tokenizerFiles.Length + 1;
        int done = 0;
        long bytes = 0;
        foreach (var (file, _, build) in graphs)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long size = MoeGraphFactory.Write(build(), Path.Combine(outputDirectory, file));
            bytes += size;
            progress?.Report(new ExportProgress(++done, total, file, size));
        }

        foreach (string file in tokenizerFiles)
        {
            string to = Path.Combine(outputDirectory, file);
            File.Copy(Path.Combine(modelDirectory, file), to);
            long size = new FileInfo(to).Length;
            bytes += size;
            progress?.Report(new ExportProgress(++done, total, file, size));
        }

        var quantized = manifest with
        {
            Quantization = settings,
            Export = new ManifestExportInfo
            {
                CreatedUtc = _time.GetUtcNow(),
                Checkpoint = manifest.Export?.Checkpoint,
                Tool = $"moeserve quantize (from {modelDirectory})",
                Import = manifest.Export?.Import,
            },
        };
        var manifestErrors = ModelManifestValidator.Validate(quantized, outputDirectory);
        if (manifestErrors.Count > 0)
        {
            throw new InvalidDataException(ErrorList.Format("Quantize produced an invalid model", manifestErrors));
        }

        quantized.Save(outputDirectory);
        long manifestBytes = new FileInfo(Path.Combine(outputDirectory, ModelManifest.FileName)).Length;
        bytes += manifestBytes;
        progress?.Report(new ExportProgress(++done, total, ModelManifest.FileName, manifestBytes));
        long sourceBytes = manifest.ReferencedFiles().Append(ModelManifest.FileName).Sum(f => new FileInfo(Path.Combine(modelDirectory, f)).Length);
        return new QuantizeResult(quantized, outputDirectory, done, bytes, sourceBytes, factory.QuantizationError, _time.GetElapsedTime(start));
    }
}

/// <summary>The outcome of a quantize run.</summary>
/// <param name="Manifest">The manifest written.</param>
/// <param name="OutputDirectory">Where.</param>
/// <param name="Files">Files written.</param>
/// <param name="TotalBytes">Their size on disk.</param>
/// <param name="SourceBytes">The float model's size on disk.</param>
/// <param name="Error">Round-trip error of the quantized matrices.</param>
/// <param name="Elapsed">Wall-clock time.</param>
public sealed record QuantizeResult(ModelManifest Manifest, string OutputDirectory, int Files, long TotalBytes, long SourceBytes, QuantizationError Error, TimeSpan Elapsed);
