namespace MoeServe.Cli.Commands;

/// <summary>
/// How a command refuses its input: one "error: ..." line per problem on stderr and exit code 2, so every
/// command lists all of its problems the same way (scripts and tests key on the prefix and the code).
/// </summary>
internal static class CliErrors
{
    /// <summary>The exit code of a refusal (bad flags or files).</summary>
    public const int ExitCode = 2;

    /// <summary>Prints one problem and returns <see cref="ExitCode"/>.</summary>
    public static int Fail(string error) => Fail([error]);

    /// <summary>Prints every problem and returns <see cref="ExitCode"/>.</summary>
    public static int Fail(IEnumerable<string> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        foreach (string error in errors)
        {
            Console.Error.WriteLine("error: " + error);
        }

        return ExitCode;
    }
}
