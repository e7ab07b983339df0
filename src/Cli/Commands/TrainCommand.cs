using MoeServe.Training.Data;
using MoeServe.Training.Native;
using MoeServe.Training.Routing;
using MoeServe.Training.Trainer;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>train</c>: trains the MoE language model with one balancing method into a checkpoint directory
/// (docs/training.md). Tunes glibc malloc for training first (MallocTuning).
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var flags = new TrainingFlags();
        var balance = new Option<string>("--balance") { Description = "Balancing method: none, aux, lossfree or bip.", DefaultValueFactory = _ => "bip" };
        var resume = new Option<bool>("--resume") { Description = "Continue the checkpoint in --out exactly where it stopped." };
        var command = flags.NewCommand("train", "Train the MoE language model (TorchSharp, CPU) with a balancing method; writes a checkpoint directory.", balance, resume);
        command.SetAction((parse, cancellation) => Task.FromResult(Run(parse, flags, balance, resume, cancellation)));
        return command;
    }

    private static int Run(ParseResult parse, TrainingFlags flags, Option<string> balance, Option<bool> resume, CancellationToken cancellation)
    {
        var errors = new List<string>();
        if (!BalanceMethodNames.TryParse(parse.GetValue(balance), out var method))
        {
            errors.Add($"--balance must be none, aux, lossfree or bip (got '{parse.GetValue(balance)}').");
        }

        var read = flags.Read(parse, method, errors);
        if (errors.Count > 0 || read is null)
        {
            return CliErrors.Fail(errors);
        }

        MallocTuning.Apply(Console.Out);

        var (preset, options) = read.Value;
        string output = parse.GetValue(flags.Out) ?? Path.Combine("runs", $"train-{preset.Name}-{method.ToName()}");
        try
        {
            Console.WriteLine($"encoding {parse.GetValue(flags.Corpus)} with {parse.GetValue(flags.Tokenizer)} ...");
            var data = TrainingData.Load(parse.GetValue(flags.Corpus)!, parse.GetValue(flags.Tokenizer)!);
            Console.WriteLine($"  {data.Train.Length:N0} training tokens, {data.Validation.Length:N0} validation tokens, vocabulary {data.VocabSize}");
            var config = TrainingFlags.ModelFor(preset, data.VocabSize);
            var summary = new TrainingRun(Console.Out).Execute(options, config, data, output, parse.GetValue(resume), flags.TimeLimit(parse), cancellation);
            Console.WriteLine(summary is null ? $"checkpoint: {output} (interrupted)" : $"checkpoint: {output}");
            return summary is null ? 130 : 0;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or InvalidOperationException or ArgumentException or UnauthorizedAccessException)
        {
            return CliErrors.Fail([ex.Message]);
        }
    }
}
