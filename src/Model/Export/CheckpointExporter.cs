using System.Text.Json;
using System.Text.Json.Nodes;
using MoeServe.Model.Onnx;

namespace MoeServe.Model.Export;

/// <summary>
/// Turns a training checkpoint into models/NAME: one ONNX graph per part (embed, each layer's dense
/// part, each expert, the optional shared expert, head), the tokenizer files and manifest.json,
/// written last so a half-finished export never looks complete.
/// </summary>
public sealed class CheckpointExporter
{
    private readonly TimeProvider _time;

    /// <summary>Creates an exporter.</summary>
    /// <param name="time">Clock for the manifest's timestamp and the elapsed time (system clock when null).</param>
    public CheckpointExporter(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Exports; throws <see cref="InvalidDataException"/> listing every problem of options and checkpoint before writing anything.</summary>
    /// <param name="options">What to export where.</param>
    /// <param name="progress">Receives one report per file written.</param>
    /// <param name="cancellationToken">Stops between files.</param>
    public ExportResult Export(ExportOptions options, IProgress<ExportProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        long start = _time.GetTimestamp();
        var errors = new List<string>(options.Validate());
        if (errors.Count > 0)
        {
            throw Problems("Cannot export", errors);
        }

        var source = LoadCheckpoint(new CheckpointLayout(options.CheckpointDirectory), options.UseLastQ);
        var factory = new MoeGraphFactory(source.Config, source.Weights, options.WeightType, options.Quantization);

        string outDir = options.OutputDirectory;
        Directory.CreateDirectory(outDir);
        RemovePreviousExport(outDir);

        var config = source.Config;
        var graphs = factory.Plan();
        int total = graphs.Count + 3; // graphs, two tokenizer files, manifest
        int done = 0;
        long bytes = 0;
        foreach (var (file, _, build) in graphs)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long size = MoeGraphFactory.Write(build(), Path.Combine(outDir, file));
            bytes += size;
            done++;
            progress?.Report(new ExportProgress(done, total, file, size));
        }

        var layout = new CheckpointLayout(options.CheckpointDirectory);
        foreach (var (from, name) in new[] { (layout.TokenizerTiktokenPath, CheckpointLayout.TokenizerTiktokenFileName), (layout.TokenizerJsonPath, CheckpointLayout.TokenizerJsonFileName) })
        {
            string to = Path.Combine(outDir, name);
            File.Copy(from, to, overwrite: true);
            long size = new FileInfo(to).Length;
            bytes += size;
            done++;
            progress?.Report(new ExportProgress(done, total, name, size));
        }

        var manifest = new ModelManifest
        {
            Name = options.Name ?? new DirectoryInfo(Path.GetFullPath(outDir)).Name,
            Config = config,
            WeightDType = options.WeightType,
            Quantization = options.Quantization,
            Graphs = ManifestGraphs.For(config),
            Tokenizer = new ManifestTokenizer(),
            SpecialTokens = source.SpecialTokens,
            EndOfTextId = source.EndOfTextId,
            Routing = ManifestRouting.For(config, source.Method, source.Q),
            Training = source.Summary,
            Export = new ManifestExportInfo { CreatedUtc = _time.GetUtcNow(), Checkpoint = options.CheckpointDirectory },
        };

        var manifestErrors = ModelManifestValidator.Validate(manifest, outDir);
        if (manifestErrors.Count > 0)
        {
            throw Problems("Export produced an invalid model", manifestErrors);
        }

        manifest.Save(outDir);
        long manifestBytes = new FileInfo(Path.Combine(outDir, ModelManifest.FileName)).Length;
        bytes += manifestBytes;
        done++;
        progress?.Report(new ExportProgress(done, total, ModelManifest.FileName, manifestBytes));
        return new ExportResult(manifest, outDir, done, bytes, _time.GetElapsedTime(start));
    }



    // Only files an export writes are removed, so a re-export with fewer layers leaves no stale graphs.
    private static void RemovePreviousExport(string outDir)
    {
        File.Delete(Path.Combine(outDir, ModelManifest.FileName));
        foreach (string pattern in new[] { "embed.onnx", "head.onnx", "layer*.onnx" })
        {
            foreach (string file in Directory.EnumerateFiles(outDir, pattern))
            {
                File.Delete(file);
            }
        }
    }

    private static CheckpointSource LoadCheckpoint(CheckpointLayout layout, bool useLastQ)
    {
        var errors = new List<string>(layout.FindMissingRequiredFiles());
        ModelConfig? config = null;
        if (File.Exists(layout.ConfigPath))
        {
            try
            {
                config = ModelConfig.FromJson(File.ReadAllText(layout.ConfigPath), layout.ConfigPath);
                errors.AddRange(config.Validate().Select(e => $"{layout.ConfigPath}: {e}"));
            }
            catch (InvalidDataException ex)
            {
                errors.Add(ex.Message);
            }
        }

        SafeTensorsContent? weights = null;
        if (File.Exists(layout.WeightsPath))
        {
            try
            {
                weights = SafeTensorsFile.Read(layout.WeightsPath);
                if (config is not null && config.Validate().Count == 0)
                {
                    errors.AddRange(CheckpointTensorNames.Check(config, weights));
                }
            }
            catch (InvalidDataException ex)
            {
                errors.Add(ex.Message);
            }
        }

        string method = "none";
        float[][]? q = null;
        if (config is not null && config.Validate().Count == 0)
        {
            string balancing = !useLastQ && File.Exists(layout.AverageBalancingPath) ? layout.AverageBalancingPath : layout.BalancingPath;
            if (File.Exists(balancing))
            {
                try
                {
                    (method, q) = BalancingFile.Read(balancing, config);
                }
                catch (InvalidDataException ex)
                {
                    errors.Add(ex.Message);
                }
            }
            else
            {
                q = Enumerable.Range(0, config.Layers).Select(_ => new float[config.Experts]).ToArray();
            }
        }

        JsonObject? summary = null;
        if (File.Exists(layout.SummaryPath))
        {
            try
            {
                summary = JsonNode.Parse(File.ReadAllText(layout.SummaryPath)) as JsonObject
                    ?? throw new JsonException("the top level is not an object");
            }
            catch (JsonException ex)
            {
                errors.Add($"{layout.SummaryPath} is not a JSON object: {ex.Message}");
            }
        }

        var (specialTokens, endOfText) = ReadSpecialTokens(layout.TokenizerJsonPath, errors);
        if (config is not null)
        {
            foreach (var (token, id) in specialTokens.Where(p => p.Value >= config.VocabSize))
            {
                errors.Add($"{layout.TokenizerJsonPath}: special token {token} has id {id} but the model's vocabSize is {config.VocabSize}.");
            }
        }

        if (errors.Count > 0 || config is null || weights is null || q is null)
        {
            throw Problems($"Checkpoint {layout.Directory} cannot be exported", errors);
        }

        return new CheckpointSource(config, weights, method, q, summary, specialTokens, endOfText);
    }

    private static (Dictionary<string, int> Tokens, int EndOfText) ReadSpecialTokens(string path, List<string> errors)
    {
        var tokens = new Dictionary<string, int>(StringComparer.Ordinal);
        if (!File.Exists(path))
        {
            return (tokens, -1);
        }

        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            if (doc.RootElement.TryGetProperty("specialTokens", out var special) && special.ValueKind == JsonValueKind.Object)
            {
                foreach (var token in special.EnumerateObject())
                {
                    tokens[token.Name] = token.Value.GetInt32();
                }
            }

            int endOfText = doc.RootElement.TryGetProperty("endOfTextId", out var eot) && eot.ValueKind == JsonValueKind.Number
                ? eot.GetInt32()
                : tokens.GetValueOrDefault("<|endoftext|>", -1);
            return (tokens, endOfText);
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException)
        {
            errors.Add($"{path} has no readable special tokens: {ex.Message}");
            return (tokens, -1);
        }
    }

    private static InvalidDataException Problems(string title, IEnumerable<string> errors) =>
        new(ErrorList.Format(title, errors));

    private sealed record CheckpointSource(ModelConfig Config, SafeTensorsContent Weights, string Method, float[][] Q, JsonObject? Summary, Dictionary<string, int> SpecialTokens, int EndOfTextId);
}
