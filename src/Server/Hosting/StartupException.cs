namespace MoeServe.Server.Hosting;

/// <summary>
/// Start-up cannot go on for a reason the operator can fix (a bad model directory, a busy port, an
/// option the model contradicts). <see cref="ServerApp"/> prints <see cref="Exception.Message"/> as the
/// one last line and exits with <see cref="ExitCode"/>; no stack trace is shown for these.
/// </summary>
public sealed class StartupException : Exception
{
    /// <summary>Creates the exception.</summary>
    public StartupException(string message, int exitCode, Exception? innerException = null)
        : base(message, innerException) => ExitCode = exitCode;

    /// <summary>Creates the exception with exit code 1.</summary>
    public StartupException()
        : this("Start-up failed.", 1)
    {
    }

    /// <summary>Creates the exception with exit code 1.</summary>
    public StartupException(string message)
        : this(message, 1)
    {
    }

    /// <summary>Creates the exception with exit code 1.</summary>
    public StartupException(string message, Exception innerException)
        : this(message, 1, innerException)
    {
    }

    /// <summary>The process exit code.</summary>
    public int ExitCode { get; }
}
