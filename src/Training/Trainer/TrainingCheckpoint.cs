using System.Text.Json;

using MoeServe.Model;
using MoeServe.Router;

using static TorchSharp.torch;

namespace MoeServe.Training.Trainer;

/// <summary>
/// Writes and restores a checkpoint directory (docs/contracts.md): config.json, model.safetensors
/// (float32, contract tensor names), balancing.json (router library state), tokenizer files, and
/// the resume state under state/: optimizer.bin (AdamW moments and step counts) and trainer.json
/// (step = data position, running statistics). The data order is a pure function of seed and step
/// and no other randomness is drawn after initialisation, so these files resume bit-identically.
/// </summary>
public static class TrainingCheckpoint
{
    /// <summary>Directory of the resume state inside a checkpoint.</summary>
    public const string StateDirectory = "state";

    /// <summary>Trainer state file name.</summary>
    public const string TrainerStateFile = "trainer.json";

    /// <summary>Optimizer state file name.</summary>
    public const string OptimizerStateFile = "optimizer.bin";

    /// <summary>Whether <paramref name="directory"/> holds a resumable checkpoint.</summary>
    /// <param name="directory">The run directory.</param>
    public static bool Exists(string directory) => File.Exists(Path.Combine(directory, StateDirectory, TrainerStateFile));

    /// <summary>Writes the checkpoint of <paramref name="trainer"/> into <paramref name="directory"/>.</summary>
    /// <param name="trainer">The trainer.</param>
    /// <param name="directory">The run directory (created if needed).</param>
    /// <param name="tokenizerDirectory">Tokenizer files to copy in, or null.</param>
    public static void Save(MoeTrainer trainer, string directory, string? tokenizerDirectory)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        var layout = new CheckpointLayout(directory);
        string state = Path.Combine(directory, StateDirectory);
        Directory.CreateDirectory(state);

        // Every file goes to a temporary name first; trainer.json, renamed last, marks a complete checkpoint.
        var renames = new List<(string Temporary, string Final)>();
        string Temp(string final)
        {
            string temporary = final + ".tmp";
            renames.Add((temporary, final));
            return temporary;
        }

        trainer.Config.Save(Temp(layout.ConfigPath));
        SafeTensorsFile.Write(Temp(layout.WeightsPath), ExportWeights(trainer), TensorDType.Float32,
            new Dictionary<string, string> { ["method"] = trainer.Options.Method.ToString().ToLowerInvariant(), ["step"] = trainer.Step.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        trainer.Routing.State.Save(Temp(layout.BalancingPath));
        trainer.Routing.Average?.State.Save(Temp(layout.AverageBalancingPath));
        trainer.Optimizer.save_state_dict(Temp(Path.Combine(state, OptimizerStateFile)));
        if (tokenizerDirectory is not null)
        {
            File.Copy(Path.Combine(tokenizerDirectory, CheckpointLayout.TokenizerTiktokenFileName), Temp(layout.TokenizerTiktokenPath), overwrite: true);
            File.Copy(Path.Combine(tokenizerDirectory, CheckpointLayout.TokenizerJsonFileName), Temp(layout.TokenizerJsonPath), overwrite: true);
        }

        var trainerState = new TrainerState
        {
            Step = trainer.Step,
            Method = trainer.Options.Method.ToString(),
            Seed = trainer.Options.Seed,
            BatchSize = trainer.Options.BatchSize,
            SequenceLength = trainer.Options.SequenceLength,
            ScheduleSteps = trainer.Options.Steps,
            Statistics = trainer.Statistics,
        };
        File.WriteAllText(Temp(Path.Combine(state, TrainerStateFile)), JsonSerializer.Serialize(trainerState, TrainingJson.Options));
        foreach (var (temporary, final) in renames)
        {
            File.Move(temporary, final, overwrite: true);
        }
    }

    /// <summary>
    /// Restores weights, optimizer, balancing state, step and statistics into a freshly built
    /// trainer with the same options. Throws when the checkpoint belongs to a different setup.
    /// </summary>
    /// <param name="trainer">A new trainer built with the run's options.</param>
    /// <param name="directory">The run directory.</param>
    public static void Restore(MoeTrainer trainer, string directory)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        var layout = new CheckpointLayout(directory);
        string state = Path.Combine(directory, StateDirectory);
        var saved = JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(Path.Combine(state, TrainerStateFile)), TrainingJson.Options)
            ?? throw new InvalidDataException($"{Path.Combine(state, TrainerStateFile)} is empty.");
        var config = ModelConfig.Load(layout.ConfigPath);
        var errors = new List<string>();
        if (config != trainer.Config)
        {
            errors.Add($"config.json differs from the requested model ({config.ToJson()}).");
        }

        if (saved.Method != trainer.Options.Method.ToString())
        {
            errors.Add($"the checkpoint was trained with --balance {saved.Method.ToLowerInvariant()}.");
        }

        if (saved.Seed != trainer.Options.Seed || saved.BatchSize != trainer.Options.BatchSize || saved.SequenceLength != trainer.Options.SequenceLength)
        {
            errors.Add($"seed/batch/sequence length differ (checkpoint: {saved.Seed}/{saved.BatchSize}/{saved.SequenceLength}).");
        }

        if (errors.Count > 0)
        {
            throw new InvalidDataException(ErrorList.Format($"Cannot resume from {directory}", errors));
        }

        ImportWeights(trainer, SafeTensorsFile.Read(layout.WeightsPath));
        var balancing = BalancingState.Load(layout.BalancingPath);
        for (int l = 0; l < balancing.LayerCount; l++)
        {
            balancing.Layer(l).CopyTo(trainer.Routing.State.Layer(l), 0);
        }

        if (trainer.Routing.Average is { } average)
        {
            // A checkpoint from before averaging existed starts the average from its last q.
            average.Restore(File.Exists(layout.AverageBalancingPath) ? BalancingState.Load(layout.AverageBalancingPath) : trainer.Routing.State);
        }

        trainer.Optimizer.load_state_dict(Path.Combine(state, OptimizerStateFile));
        trainer.Step = saved.Step;
        var s = saved.Statistics;
        trainer.Statistics.Steps = s.Steps;
        trainer.Statistics.SumPerLayer = s.SumPerLayer;
        trainer.Statistics.SupPerLayer = s.SupPerLayer;
        trainer.Statistics.SumMean = s.SumMean;
        trainer.Statistics.SupMean = s.SupMean;
        trainer.Statistics.WallSeconds = s.WallSeconds;
        trainer.Statistics.BalancingSeconds = s.BalancingSeconds;
        trainer.Statistics.Tokens = s.Tokens;
        trainer.Statistics.LastLoss = s.LastLoss;
    }

    /// <summary>The model's parameters as float32 tensors under their checkpoint names.</summary>
    /// <param name="trainer">The trainer.</param>
    public static Dictionary<string, FloatTensor> ExportWeights(MoeTrainer trainer)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        var weights = new Dictionary<string, FloatTensor>(StringComparer.Ordinal);
        foreach (var (name, parameter) in trainer.Model.named_parameters())
        {
            using var cpu = parameter.detach().contiguous();
            weights[name] = new FloatTensor(parameter.shape.Select(d => checked((int)d)).ToArray(), cpu.data<float>().ToArray());
        }

        return weights;
    }

    private static void ImportWeights(MoeTrainer trainer, SafeTensorsContent content)
    {
        using var noGrad = no_grad();
        foreach (var (name, parameter) in trainer.Model.named_parameters())
        {
            var stored = content.Get(name, parameter.shape.Select(d => checked((int)d)).ToArray());
            using var source = tensor(stored.Data, parameter.shape);
            parameter.copy_(source);
        }
    }

    private sealed record TrainerState
    {
        public long Step { get; init; }

        public string Method { get; init; } = string.Empty;

        public int Seed { get; init; }

        public int BatchSize { get; init; }

        public int SequenceLength { get; init; }

        public int ScheduleSteps { get; init; }

        public BalanceStatistics Statistics { get; init; } = new(0);
    }
}
