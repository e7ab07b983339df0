using System.Diagnostics;

namespace MoeServe.Cli.Corpus;

/// <summary>
/// Installs the Debian packages a corpus source needs, with apt-get, when the process runs as root; otherwise
/// callers print <see cref="InstallCommand"/> for the user to run. It lives in the CLI because changing
/// the system is a command's decision: the Text library only names what is missing
/// (<see cref="MoeServe.Text.Corpus.MissingCorpusPackagesException"/>).
/// </summary>
internal static class DebianPackageInstaller
{
    /// <summary>True when this process may run apt-get itself.</summary>
    public static bool CanInstall => Environment.IsPrivilegedProcess && File.Exists("/usr/bin/apt-get");

    /// <summary>The command a user runs to install <paramref name="packages"/>.</summary>
    /// <param name="packages">Debian package names.</param>
    public static string InstallCommand(IEnumerable<string> packages)
    {
        ArgumentNullException.ThrowIfNull(packages);
        return "sudo apt-get install -y " + string.Join(' ', packages);
    }

    /// <summary>
    /// Runs <c>apt-get install -y PACKAGES</c>; if that fails (stale package lists), runs
    /// <c>apt-get update</c> and tries once more. apt's output goes to <paramref name="output"/>.
    /// </summary>
    /// <param name="packages">Debian package names.</param>
    /// <param name="output">Receives apt's output lines.</param>
    /// <returns>True when the packages were installed.</returns>
    public static bool Install(IReadOnlyList<string> packages, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(packages);
        ArgumentNullException.ThrowIfNull(output);
        if (packages.Count == 0)
        {
            return true;
        }

        string[] install = ["install", "-y", "-q", .. packages];
        return AptGet(install, output) || (AptGet(["update", "-q"], output) && AptGet(install, output));
    }

    private static bool AptGet(IReadOnlyList<string> arguments, TextWriter output)
    {
        var start = new ProcessStartInfo("apt-get")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        output.WriteLine("$ apt-get " + string.Join(' ', arguments));
        using var process = Process.Start(start);
        if (process is null)
        {
            return false;
        }

        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { output.WriteLine("  " + e.Data); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { output.WriteLine("  " + e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.WaitForExit();
        return process.ExitCode == 0;
    }
}
