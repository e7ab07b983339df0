using MoeServe.Runtime.Evaluation;
using MoeServe.Runtime.Generation;
using MoeServe.Runtime.Sampling;

namespace MoeServe.Runtime.Tests.Evaluation;

/// <summary>
/// The one test of the committed default model (models/default): it loads, generates, and predicts
/// held-out text as well as it measured when committed. Everything else is tested on tiny models built by the tests.
/// </summary>
public sealed class DefaultModelSmokeTests
{
    [Fact]
    public void DefaultModel_LoadsGeneratesAndPredictsHeldOutText()
    {
        string repository = FindRepositoryRoot();
        using var engine = MoeEngine.Load(new RuntimeOptions { ModelPath = Path.Combine(repository, "models", "default") }, loggerFactory: null);

        var result = new TextGenerator(engine).Generate(
            "And God said",
            new SamplingParameters { Temperature = 0, MaxTokens = 24, StopAtEndOfText = false });
        Assert.Equal(24, result.CompletionTokens);
        Assert.False(string.IsNullOrWhiteSpace(result.Text));

        // Held-out text (tests/data/sample.txt is from the validation split): a model that learned
        // nothing scores about the vocabulary size (4096). The committed model measures 49.87 on these
        // 1024 tokens (33.4 is its figure on the whole validation split); a band of 5% around that
        // catches a broken graph, tokenizer or routing change, which a bound like "below 400" would not.
        int[] tokens = engine.Tokenizer.EncodeToIds(File.ReadAllText(Path.Combine(repository, "tests", "data", "sample.txt"))).ToArray();
        var perplexity = new PerplexityEvaluator(engine).Evaluate(tokens, length: 128, tokenLimit: 1024, windowsPerStep: 4, CancellationToken.None);
        const double measured = 49.868;
        Assert.InRange(perplexity.Perplexity, measured * 0.95, measured * 1.05);
        Assert.All(perplexity.MaxVioGlobalPerLayer, v => Assert.True(double.IsFinite(v) && v >= 0));
    }

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "MoeServe.sln")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException("MoeServe.sln not found above " + AppContext.BaseDirectory);
    }
}
