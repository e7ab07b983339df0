using MoeServe.Runtime;

namespace MoeServe.Cli.Commands;

/// <summary>Prints a model load's progress on standard error, so standard output stays the command's result (JSON too).</summary>
internal sealed class ConsoleLoadProgress : IProgress<ModelLoadProgress>
{
    public static ConsoleLoadProgress Instance { get; } = new();

    private ConsoleLoadProgress()
    {
    }

    public void Report(ModelLoadProgress value) => Console.Error.WriteLine($"loading: {value}");
}
