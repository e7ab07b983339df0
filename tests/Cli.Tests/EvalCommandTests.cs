using MoeServe.Cli.Tests.Support;
using MoeServe.Text.Corpus;

namespace MoeServe.Cli.Tests;

public sealed class EvalCommandTests(TinyModelDirectory tiny) : IClassFixture<TinyModelDirectory>, IDisposable
{
    private readonly string _corpus = Path.Combine(Path.GetTempPath(), "moeserve-cli-corpus-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task Eval_NoCorpusYet_BuildsItFirstOrNamesTheInstallCommand()
    {
        // What a fresh clone meets: no corpus directory at all.
        var result = await CliProcess.RunAsync("eval", "--model", tiny.Model, "--corpus-dir", _corpus, "--tokens", "256", "--no-install");

        Assert.Contains("not found: building the corpus first", result.StandardError, StringComparison.Ordinal);
        var missing = CorpusBuilder.MissingPackages([new KjvBibleSource(), new FortuneSource()]);
        if (missing.Count == 0)
        {
            Assert.True(result.ExitCode == 0, result.Output);
            Assert.True(File.Exists(Path.Combine(_corpus, CorpusBuilder.ValidationFileName)), result.Output);
            Assert.Contains("perplexity", result.StandardOutput, StringComparison.Ordinal);
        }
        else
        {
            // --no-install (and no root, in general): the error says exactly what to run next.
            Assert.Equal(2, result.ExitCode);
            Assert.Contains("sudo apt-get install -y " + string.Join(' ', missing), result.StandardError, StringComparison.Ordinal);
            Assert.Contains($"then run: this command again (it builds the corpus), or `dotnet run --project src/Cli -c Release -- corpus --out {_corpus}`", result.StandardError, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(_corpus, CorpusBuilder.TrainFileName)));
        }
    }

    [Fact]
    public async Task Eval_CorpusFilePath_DoesNotBuildACorpus()
    {
        string sample = Path.Combine(_corpus, "sample.txt");
        Directory.CreateDirectory(_corpus);
        await File.WriteAllTextAsync(sample, string.Concat(Enumerable.Repeat("In the beginning was the word. ", 40)));

        var result = await CliProcess.RunAsync("eval", "--model", tiny.Model, "--data", sample, "--tokens", "256", "--no-install");

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.DoesNotContain("building the corpus", result.StandardError, StringComparison.Ordinal);
        Assert.Contains("perplexity", result.StandardOutput, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Directory.Exists(_corpus))
        {
            Directory.Delete(_corpus, recursive: true);
        }
    }
}
