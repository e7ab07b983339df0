namespace MoeServe.Text.Tests;

/// <summary>Paths of the committed test files (copied next to the test assembly).</summary>
internal static class TestData
{
    /// <summary>tests/data/sample.txt: held-out corpus documents (Proverbs 1, fortunes) separated by &lt;|endoftext|&gt;.</summary>
    public static string SamplePath => Path.Combine(AppContext.BaseDirectory, "data", "sample.txt");

    /// <summary>models/tokenizer-4096: the committed tokenizer trained on the full corpus.</summary>
    public static string CommittedTokenizerDirectory => Path.Combine(AppContext.BaseDirectory, "tokenizer-4096");

    public static string Sample => File.ReadAllText(SamplePath);
}

/// <summary>A temporary directory removed on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "moeserve-text-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}
