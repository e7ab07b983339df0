using System.Runtime.InteropServices;

namespace MoeServe.Training.Native;

/// <summary>
/// Tunes glibc malloc for training, in this process, through mallopt. Every step allocates and frees
/// the same large tensors (logits, expert activations); by default glibc serves those from fresh mmap
/// regions or trims them back to the OS, so each step pays page faults on hundreds of megabytes.
/// A fixed 32 MiB mmap threshold (the most glibc allows), a 1 GiB trim threshold and a 256 MiB top pad
/// keep the pages in the heap for reuse: measured here ~9% faster (small preset) with flat memory.
/// </summary>
/// <remarks>
/// Replaces an earlier jemalloc LD_PRELOAD relaunch: with its decay disabled jemalloc grew by ~40 MB
/// per second of training until the machine thrashed (docs/training.md), and it was no faster.
/// </remarks>
public static partial class MallocTuning
{
    /// <summary>Set to "0" to leave glibc malloc at its defaults.</summary>
    public const string ControlVariable = "MOESERVE_MALLOC_TUNING";

    private const int TrimThresholdOption = -1; // M_TRIM_THRESHOLD
    private const int TopPadOption = -2; // M_TOP_PAD
    private const int MmapThresholdOption = -3; // M_MMAP_THRESHOLD

    /// <summary>The settings applied, as (mallopt option, value) pairs.</summary>
    public static IReadOnlyList<(int Option, int Value)> Settings { get; } =
    [
        (MmapThresholdOption, 32 << 20),
        (TrimThresholdOption, 1 << 30),
        (TopPadOption, 256 << 20),
    ];

    /// <summary>Whether <see cref="Apply"/> tuned malloc in this process.</summary>
    public static bool IsActive { get; private set; }

    /// <summary>The allocator description recorded in summaries: "glibc (tuned)" or "glibc".</summary>
    public static string Description => IsActive ? "glibc (tuned)" : "glibc";

    /// <summary>Whether tuning should run: on Linux unless <see cref="ControlVariable"/> is "0".</summary>
    /// <param name="control">The current value of <see cref="ControlVariable"/>.</param>
    public static bool ShouldApply(string? control) => OperatingSystem.IsLinux() && control != "0";

    /// <summary>Applies the settings when <see cref="ShouldApply"/> allows, and says what it did.</summary>
    /// <param name="log">Where to say which allocator settings run.</param>
    public static void Apply(TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(log);
        if (!ShouldApply(Environment.GetEnvironmentVariable(ControlVariable)))
        {
            log.WriteLine(OperatingSystem.IsLinux() ? $"allocator: glibc malloc defaults ({ControlVariable}=0)" : "allocator: platform default");
            return;
        }

        try
        {
            bool all = true;
            foreach (var (option, value) in Settings)
            {
                all &= MallOpt(option, value) == 1;
            }

            IsActive = all;
            log.WriteLine(all ? "allocator: glibc malloc, tuned for reuse of large tensors (mallopt)" : "allocator: glibc malloc (mallopt refused a setting; defaults kept in part)");
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (e.g. musl): nothing to tune.
            log.WriteLine("allocator: not glibc; malloc left at its defaults");
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int MallOpt(int option, int value);
}
