using MoeServe.Model.Export;

namespace MoeServe.Cli.Commands;

/// <summary>Prints export progress: a line per dense/embed/head file and every tenth expert, so big models stay readable.</summary>
internal sealed class ExportProgressPrinter : IProgress<ExportProgress>
{
    private readonly TextWriter _out;

    public ExportProgressPrinter(TextWriter output) => _out = output;

    public void Report(ExportProgress value)
    {
        bool expert = value.File.Contains(".expert", StringComparison.Ordinal);
        if (!expert || value.Done % 10 == 0 || value.Done == value.Total)
        {
            _out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  [{value.Done,4}/{value.Total}] {value.File,-28} {value.Bytes / 1024.0,9:F1} KB"));
        }
    }
}
