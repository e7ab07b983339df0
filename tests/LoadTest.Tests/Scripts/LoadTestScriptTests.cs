using MoeServe.LoadTest.Tests.Support;
using MoeServe.TestSupport;

namespace MoeServe.LoadTest.Tests.Scripts;

/// <summary>The k6 scripts and Node tools under loadtest/ parse, and their pure modules pass Node's own tests.</summary>
public sealed class LoadTestScriptTests
{
    private static readonly TimeSpan NodeTimeout = TimeSpan.FromSeconds(60);

    public static TheoryData<string> Scripts()
    {
        var data = new TheoryData<string>();
        foreach (var file in RepositoryPaths.Files("loadtest", "*.js").Concat(RepositoryPaths.Files("loadtest", "*.mjs")))
        {
            data.Add(file);
        }

        return data;
    }

    [Fact]
    public void Scripts_LoadTestFolder_HoldsBothK6ScenariosAndTheScrapeScript()
    {
        var files = RepositoryPaths.Files("loadtest", "*.*js");
        Assert.Contains("loadtest/completions.js", files);
        Assert.Contains("loadtest/streaming.js", files);
        Assert.Contains("loadtest/scrape-metrics.mjs", files);
    }

    [Theory]
    [MemberData(nameof(Scripts))]
    [Trait(TestTiers.Name, TestTiers.External)]
    public async Task NodeCheck_EveryScript_ParsesWithoutSyntaxErrors(string script)
    {
        // loadtest/package.json declares "type": "module", so Node parses the k6 scripts as the
        // ES modules k6 runs; the k6/* imports are not resolved by --check.
        var result = await ExternalProcess.RunAsync("node", ["--check", script], NodeTimeout);

        Assert.True(result.ExitCode == 0, $"node --check {script} failed:\n{result.Output}");
    }

    [Fact]
    [Trait(TestTiers.Name, TestTiers.External)]
    public async Task NodeTestRunner_LoadTestModules_AllTestsPass()
    {
        var result = await ExternalProcess.RunAsync("node", ["--test", "tests/LoadTest.Tests/js/"], NodeTimeout);

        Assert.True(result.ExitCode == 0, $"node --test failed:\n{result.Output}");
        Assert.Matches(@"# pass [1-9]\d*", result.StandardOutput);
        Assert.Contains("# fail 0", result.StandardOutput, StringComparison.Ordinal);
    }
}
