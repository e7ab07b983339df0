namespace MoeServe.Model;

/// <summary>
/// File names of a checkpoint directory (docs/contracts.md): training writes them, export reads them.
/// </summary>
public sealed class CheckpointLayout
{
    /// <summary>File name of the model configuration.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>File name of the weights.</summary>
    public const string WeightsFileName = "model.safetensors";

    /// <summary>File name of the router balancing state (per-layer q).</summary>
    public const string BalancingFileName = "balancing.json";

    /// <summary>File name of the running average of the balancing state over training steps.</summary>
    public const string AverageBalancingFileName = "balancing-average.json";

    /// <summary>File name of the tiktoken-format vocabulary.</summary>
    public const string TokenizerTiktokenFileName = "tokenizer.tiktoken";

    /// <summary>File name of the tokenizer settings (special tokens, pre-tokenizer pattern).</summary>
    public const string TokenizerJsonFileName = "tokenizer.json";

    /// <summary>File name of the training summary.</summary>
    public const string SummaryFileName = "summary.json";

    /// <summary>Describes the checkpoint in <paramref name="directory"/> (nothing is read or created).</summary>
    /// <param name="directory">The checkpoint directory.</param>
    public CheckpointLayout(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory = directory;
    }

    /// <summary>The checkpoint directory.</summary>
    public string Directory { get; }

    /// <summary>Path of config.json.</summary>
    public string ConfigPath => Path.Combine(Directory, ConfigFileName);

    /// <summary>Path of model.safetensors.</summary>
    public string WeightsPath => Path.Combine(Directory, WeightsFileName);

    /// <summary>Path of balancing.json.</summary>
    public string BalancingPath => Path.Combine(Directory, BalancingFileName);

    /// <summary>Path of balancing-average.json: q averaged over the last training steps (what export serves).</summary>
    public string AverageBalancingPath => Path.Combine(Directory, AverageBalancingFileName);

    /// <summary>Path of tokenizer.tiktoken.</summary>
    public string TokenizerTiktokenPath => Path.Combine(Directory, TokenizerTiktokenFileName);

    /// <summary>Path of tokenizer.json.</summary>
    public string TokenizerJsonPath => Path.Combine(Directory, TokenizerJsonFileName);

    /// <summary>Path of summary.json.</summary>
    public string SummaryPath => Path.Combine(Directory, SummaryFileName);

    /// <summary>Files export cannot work without: config, weights and both tokenizer files.</summary>
    public IReadOnlyList<string> RequiredFiles => [ConfigPath, WeightsPath, TokenizerTiktokenPath, TokenizerJsonPath];

    /// <summary>Files export uses when present: the averaged or else the last balancing state (q = 0 without either) and the training summary.</summary>
    public IReadOnlyList<string> OptionalFiles => [AverageBalancingPath, BalancingPath, SummaryPath];

    /// <summary>One message per required file that does not exist, each naming the file.</summary>
    public IReadOnlyList<string> FindMissingRequiredFiles()
    {
        var errors = new List<string>();
        if (!System.IO.Directory.Exists(Directory))
        {
            errors.Add($"checkpoint directory does not exist: {Directory}");
            return errors;
        }

        foreach (string path in RequiredFiles)
        {
            if (!File.Exists(path))
            {
                errors.Add($"missing checkpoint file: {path}");
            }
        }

        return errors;
    }
}
