using System.Diagnostics;

namespace MoeServe.Cli.Commands;

/// <summary>Time since this process started, for figures such as time to first token that a user waits through from the command line.</summary>
internal static class ProcessClock
{
    /// <summary>Wall time since the operating system started the process (its start time has the kernel's tick resolution, 10 ms on Linux).</summary>
    public static TimeSpan SinceStart()
    {
        using var self = Process.GetCurrentProcess();
        return DateTime.Now - self.StartTime;
    }
}
