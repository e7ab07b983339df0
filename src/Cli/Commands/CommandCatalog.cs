namespace MoeServe.Cli.Commands;

/// <summary>Every sub-command of the CLI; each feature adds its own factory here.</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> Create()
    {
        // One line per command, in the order they appear in --help.
        yield return SimulateCommand.Create();
        yield return CorpusCommand.Create();
        yield return TokenizerCommand.Create();
        yield return ChatTemplateCommand.Create();
        yield return TrainCommand.Create();
        yield return CompareCommand.Create();
        yield return ExportCommand.Create();
        yield return ImportCommand.Create();
        yield return SynthCommand.Create();
        yield return QuantizeCommand.Create();
        yield return GenerateCommand.Create();
        yield return EvalCommand.Create();
        yield return CalibrateCommand.Create();
        yield return FrontierCommand.Create();
        yield return AgreementCommand.Create();
        yield return BenchCommand.Create();
        yield return LoadProbeCommand.Create();
        yield return BenchPeerProcess.CreateCommand(); // hidden: bench --peer-process's child
        yield break;
    }
}
