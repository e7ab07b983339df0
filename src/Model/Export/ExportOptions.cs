namespace MoeServe.Model.Export;

/// <summary>What to export where.</summary>
public sealed record ExportOptions
{
    /// <summary>The checkpoint directory (config.json, model.safetensors, tokenizer files, ...).</summary>
    public required string CheckpointDirectory { get; init; }

    /// <summary>The model directory to write, e.g. models/NAME.</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>Storage type of the weights inside the graphs.</summary>
    public TensorDType WeightType { get; init; } = TensorDType.Float16;

    /// <summary>Expert and attention matrices blockwise quantized (MatMulNBits), or null to keep them in <see cref="WeightType"/>.</summary>
    public Quantization.QuantizationSettings? Quantization { get; init; }

    /// <summary>Model name in the manifest; the output directory's name when null.</summary>
    public string? Name { get; init; }

    /// <summary>
    /// Serve the last training step's q (balancing.json) even when the checkpoint has the averaged q
    /// (balancing-average.json), which is the default because it balances unseen text better.
    /// </summary>
    public bool UseLastQ { get; init; }

    /// <summary>Every problem with these options, each naming its flag; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(CheckpointDirectory))
        {
            errors.Add("--checkpoint is required.");
        }
        else if (!Directory.Exists(CheckpointDirectory))
        {
            errors.Add($"--checkpoint: directory not found: {CheckpointDirectory}");
        }

        if (string.IsNullOrWhiteSpace(OutputDirectory))
        {
            errors.Add("--out is required.");
        }
        else if (File.Exists(OutputDirectory))
        {
            errors.Add($"--out: {OutputDirectory} is a file, not a directory.");
        }

        if (!Enum.IsDefined(WeightType))
        {
            errors.Add("--dtype must be float16 or float32.");
        }

        if (Quantization is not null)
        {
            errors.AddRange(Quantization.Validate().Select(e => "--weights: " + e));
        }

        if (Name is not null && string.IsNullOrWhiteSpace(Name))
        {
            errors.Add("--name must not be blank.");
        }

        if (errors.Count == 0 && Path.GetFullPath(CheckpointDirectory).TrimEnd('/') == Path.GetFullPath(OutputDirectory).TrimEnd('/'))
        {
            errors.Add("--out must differ from --checkpoint.");
        }

        return errors;
    }
}

/// <summary>Progress of an export: the file just written, <paramref name="Done"/> of <paramref name="Total"/>.</summary>
/// <param name="Done">Files written so far.</param>
/// <param name="Total">Files to write.</param>
/// <param name="File">The file just written.</param>
/// <param name="Bytes">Its size.</param>
public readonly record struct ExportProgress(int Done, int Total, string File, long Bytes);

/// <summary>The outcome of an export.</summary>
/// <param name="Manifest">The manifest written.</param>
/// <param name="OutputDirectory">Where.</param>
/// <param name="Files">Files written (graphs, tokenizer, manifest).</param>
/// <param name="TotalBytes">Their total size on disk.</param>
/// <param name="Elapsed">Wall-clock time.</param>
public sealed record ExportResult(ModelManifest Manifest, string OutputDirectory, int Files, long TotalBytes, TimeSpan Elapsed);
