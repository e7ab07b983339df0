using MoeServe.Text.Tokenization;

namespace MoeServe.Cli.Commands;

/// <summary>
/// Prints BPE training progress: a bar redrawn in place on a terminal, or a line every 500 merges when
/// the output is redirected (logs stay readable). Reports arrive on the training thread.
/// </summary>
internal sealed class TokenizerProgressPrinter(TextWriter output, bool redirected) : IProgress<BpeTrainingProgress>
{
    private const int BarWidth = 30;
    private long _lastLine = -1;

    public void Report(BpeTrainingProgress value)
    {
        if (value.Stage != "merge")
        {
            return;
        }

        double share = value.Total == 0 ? 1 : Math.Min(1, value.Done / (double)value.Total);
        string token = value.LastToken is null ? string.Empty : $"  last '{value.LastToken.Replace("\n", "\\n", StringComparison.Ordinal)}' x{value.LastPairCount}";
        bool finished = value.LastToken is null;
        string line = string.Create(CultureInfo.InvariantCulture, $"merges {value.Done,5}/{value.Total} [{new string('#', (int)(share * BarWidth)).PadRight(BarWidth)}] {share * 100,3:F0}%{token}");
        if (!redirected)
        {
            output.Write("\r" + line.PadRight(100)[..100]);
            if (finished)
            {
                output.WriteLine();
            }
        }
        else if (finished || value.Done / 500 != _lastLine)
        {
            _lastLine = value.Done / 500;
            output.WriteLine(line);
        }
    }
}
