using MoeServe.Model;
using MoeServe.Router;
using MoeServe.Training.Configuration;
using MoeServe.Training.Routing;

namespace MoeServe.Cli.Commands;

/// <summary>The flags train and compare share, and their translation into validated options.</summary>
internal sealed class TrainingFlags
{
    public Option<string> Preset { get; } = new("--preset") { Description = "Model preset: tiny, mini or small (the served default).", DefaultValueFactory = _ => "small" };

    public Option<int> Steps { get; } = new("--steps") { Description = "Optimizer steps (the learning-rate schedule's length).", DefaultValueFactory = _ => 2000 };

    public Option<string> Out { get; } = new("--out") { Description = "Output directory (checkpoint, steps.csv, summary.json)." };

    public Option<int> Threads { get; } = new("--threads") { Description = "Torch intra-op threads (0 = torch default).", DefaultValueFactory = _ => 1 };

    public Option<int?> BatchSize { get; } = new("--batch-size") { Description = "Sequences per step (default: the preset's)." };

    public Option<int?> SequenceLength { get; } = new("--seq-len") { Description = "Tokens per sequence (default: the preset's context length)." };

    public Option<double?> LearningRate { get; } = new("--lr") { Description = "Peak learning rate (default: the preset's)." };

    public Option<int?> Warmup { get; } = new("--warmup") { Description = "Warm-up steps (default: min(100, steps/10))." };

    public Option<int> Seed { get; } = new("--seed") { Description = "Seed of initialisation and data order.", DefaultValueFactory = _ => 1234 };

    public Option<int> CheckpointEvery { get; } = new("--checkpoint-every") { Description = "Checkpoint (and validate) every N steps; 0 = only at the end.", DefaultValueFactory = _ => 250 };

    public Option<int> LogEvery { get; } = new("--log-every") { Description = "Progress line every N steps.", DefaultValueFactory = _ => 10 };

    public Option<int> ValidationTokens { get; } = new("--validation-tokens") { Description = "Validation tokens evaluated (0 = all).", DefaultValueFactory = _ => 131072 };

    public Option<double> AuxAlpha { get; } = new("--aux-alpha") { Description = "alpha of the Loss-Controlled auxiliary loss (balance aux).", DefaultValueFactory = _ => 0.1 };

    public Option<float> LossFreeRate { get; } = new("--lossfree-rate") { Description = "u of loss-free balancing.", DefaultValueFactory = _ => LossFreeOptions.DefaultUpdateRate };

    public Option<int> BipIterations { get; } = new("--bip-iterations") { Description = "T, BIP dual iterations per batch.", DefaultValueFactory = _ => BipOptions.DefaultIterations };

    public Option<string> BipOrder { get; } = new("--bip-order") { Description = "update-then-route (default) or route-then-update.", DefaultValueFactory = _ => "update-then-route" };

    public Option<string> BipClip { get; } = new("--bip-clip") { Description = "Which BIP duals are clipped at 0: experts (library default), both, tokens, none.", DefaultValueFactory = _ => "experts" };

    public Option<string> Corpus { get; } = new("--corpus") { Description = "Directory with train.txt and validation.txt (from `corpus`).", DefaultValueFactory = _ => "data/corpus" };

    public Option<string> Tokenizer { get; } = new("--tokenizer") { Description = "Directory with tokenizer.tiktoken and tokenizer.json (from `tokenizer train`).", DefaultValueFactory = _ => "data/tokenizer" };

    public Option<double?> MaxMinutes { get; } = new("--max-minutes") { Description = "Stop training after this many minutes of wall time, then validate and summarise; the learning-rate decay follows this budget when it is the shorter one." };

    /// <summary>A command with its own <paramref name="options"/> first, then every training flag.</summary>
    public Command NewCommand(string name, string description, params Option[] options)
    {
        var command = new Command(name, description);
        foreach (var option in options.Concat([Preset, Steps, Out, Threads, BatchSize, SequenceLength, LearningRate, Warmup, Seed, CheckpointEvery, LogEvery, ValidationTokens, AuxAlpha, LossFreeRate, BipIterations, BipOrder, BipClip, Corpus, Tokenizer, MaxMinutes]))
        {
            command.Options.Add(option);
        }

        return command;
    }

    /// <summary>Reads the flags; every problem goes to <paramref name="errors"/>.</summary>
    public (TrainingPreset Preset, TrainingOptions Options)? Read(ParseResult parse, BalanceMethod method, List<string> errors)
    {
        bool knownPreset = TrainingPresets.TryGet(parse.GetValue(Preset), out var preset);
        if (!knownPreset)
        {
            // Go on with the default preset so that every other problem is listed too.
            errors.Add($"--preset must be one of {string.Join(", ", TrainingPresets.All.Select(p => p.Name))} (got '{parse.GetValue(Preset)}').");
            preset = TrainingPresets.Small;
        }

        BipOrder order = Router.BipOrder.UpdateThenRoute;
        switch (parse.GetValue(BipOrder))
        {
            case "update-then-route": break;
            case "route-then-update": order = Router.BipOrder.RouteThenUpdate; break;
            default: errors.Add($"--bip-order must be update-then-route or route-then-update (got '{parse.GetValue(BipOrder)}')."); break;
        }

        BipClip clip = Router.BipClip.Experts;
        switch (parse.GetValue(BipClip))
        {
            case "experts": break;
            case "both": clip = Router.BipClip.Both; break;
            case "tokens": clip = Router.BipClip.Tokens; break;
            case "none": clip = Router.BipClip.None; break;
            default: errors.Add($"--bip-clip must be experts, both, tokens or none (got '{parse.GetValue(BipClip)}')."); break;
        }

        int steps = parse.GetValue(Steps);
        var options = new TrainingOptions
        {
            Preset = preset.Name,
            Method = method,
            Steps = steps,
            BatchSize = parse.GetValue(BatchSize) ?? preset.BatchSize,
            SequenceLength = parse.GetValue(SequenceLength) ?? preset.Model.ContextLength,
            LearningRate = parse.GetValue(LearningRate) ?? preset.LearningRate,
            WarmupSteps = parse.GetValue(Warmup) ?? Math.Min(100, Math.Max(1, steps / 10)),
            Seed = parse.GetValue(Seed),
            CheckpointEvery = parse.GetValue(CheckpointEvery),
            LogEvery = parse.GetValue(LogEvery),
            ValidationTokens = parse.GetValue(ValidationTokens),
            Threads = parse.GetValue(Threads),
            AuxAlpha = parse.GetValue(AuxAlpha),
            LossFree = new LossFreeOptions { UpdateRate = parse.GetValue(LossFreeRate) },
            Bip = new BipOptions { Iterations = parse.GetValue(BipIterations), Order = order, Clip = clip },
        };
        errors.AddRange(options.Validate(preset.Model.ContextLength));
        if (parse.GetValue(MaxMinutes) is <= 0)
        {
            errors.Add("--max-minutes must be positive.");
        }

        return knownPreset ? (preset, options) : null;
    }

    public TimeSpan? TimeLimit(ParseResult parse) => parse.GetValue(MaxMinutes) is { } minutes ? TimeSpan.FromMinutes(minutes) : null;

    /// <summary>The preset's architecture with the tokenizer's vocabulary size.</summary>
    public static ModelConfig ModelFor(TrainingPreset preset, int vocabSize) => preset.Model with { VocabSize = vocabSize };

    public static string Format(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
