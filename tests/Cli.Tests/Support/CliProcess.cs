using System.Diagnostics;

namespace MoeServe.Cli.Tests.Support;

/// <summary>Runs the CLI (MoeServe.Cli.dll next to the tests) to completion with a deadline.</summary>
internal static class CliProcess
{
    public sealed record Result(int ExitCode, string StandardOutput, string StandardError)
    {
        /// <summary>Both streams, for assertion messages.</summary>
        public string Output => $"{StandardOutput}\n{StandardError}";
    }

    public static async Task<Result> RunAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // The CLI turns quick JIT off for faster decoding (its csproj); the tests' short runs start sooner with it on,
        // and what a command prints does not depend on it.
        start.Environment["DOTNET_TC_QuickJit"] = "1";
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "MoeServe.Cli.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the CLI");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"moeserve {string.Join(' ', arguments)} did not finish within 5 minutes");
        }

        return new Result(process.ExitCode, await stdout, await stderr);
    }
}
