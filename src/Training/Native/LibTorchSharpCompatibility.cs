namespace MoeServe.Training.Native;

/// <summary>What <see cref="LibTorchSharpCompatibility.EnsureLoadable"/> found and did.</summary>
public enum CompatibilityOutcome
{
    /// <summary>Not Linux: nothing to check.</summary>
    NotApplicable,

    /// <summary>The system libstdc++ provides every version libLibTorchSharp.so needs; the file is untouched.</summary>
    NotNeeded,

    /// <summary>The missing versions were already marked weak by an earlier run.</summary>
    AlreadyPatched,

    /// <summary>The missing versions were marked weak now.</summary>
    Patched,
}

/// <summary>The outcome and the versions involved, for logs and tests.</summary>
/// <param name="Outcome">What happened.</param>
/// <param name="LibraryPath">The libLibTorchSharp.so that was checked (empty when not applicable).</param>
/// <param name="WeakenedVersions">Versions that are (now) weak because the system lacks them.</param>
public sealed record CompatibilityReport(CompatibilityOutcome Outcome, string LibraryPath, IReadOnlyList<string> WeakenedVersions);

/// <summary>
/// Makes TorchSharp's native shim loadable on systems whose libstdc++ is older than the one it was
/// built against (Debian 12 ships GLIBCXX_3.4.30; libLibTorchSharp.so 0.107 asks for 3.4.32).
/// </summary>
/// <remarks>
/// Why a check in code rather than an MSBuild step: every output folder that ends up holding the
/// native file (the CLI, each test project, a publish folder) is covered by the one call made
/// before the first TorchSharp use, and the check is also where it is cheap to ask the question that
/// matters: does the libstdc++ this process will load lack the version? The only symbol bound at
/// GLIBCXX_3.4.32 is std::ios_base_library_init, and nothing relocates against it, so flagging that
/// version need as VER_FLG_WEAK in .gnu.version_r turns the loader's hard error into nothing. Other
/// missing versions are not known to be harmless and are reported instead of patched.
/// </remarks>
public static class LibTorchSharpCompatibility
{
    /// <summary>The file name of TorchSharp's native shim.</summary>
    public const string LibraryFileName = "libLibTorchSharp.so";

    /// <summary>The library whose versions are checked.</summary>
    public const string LibStdCxxName = "libstdc++.so.6";

    /// <summary>Versions known to be safe to weaken (no relocation uses them).</summary>
    public static IReadOnlySet<string> SafeToWeaken { get; } = new HashSet<string>(StringComparer.Ordinal) { "GLIBCXX_3.4.32" };

    private static readonly Lock Gate = new();
    private static CompatibilityReport? _done;

    /// <summary>
    /// Checks (once per process) the libLibTorchSharp.so next to TorchSharp.dll and weakens the
    /// libstdc++ versions the system lacks. Call before the first TorchSharp use.
    /// </summary>
    public static CompatibilityReport EnsureLoadable()
    {
        lock (Gate)
        {
            if (_done is not null)
            {
                return _done;
            }

            if (!OperatingSystem.IsLinux())
            {
                _done = new CompatibilityReport(CompatibilityOutcome.NotApplicable, string.Empty, []);
                return _done;
            }

            // typeof does not run TorchSharp's static constructor (which is what would fail to load).
            string directory = Path.GetDirectoryName(typeof(TorchSharp.torch).Assembly.Location) ?? AppContext.BaseDirectory;
            string library = Path.Combine(directory, LibraryFileName);
            string? libStdCxx = FindSystemLibStdCxx();
            if (!File.Exists(library) || libStdCxx is null)
            {
                // Nothing to patch here: TorchSharp will report its own load error if there is one.
                _done = new CompatibilityReport(CompatibilityOutcome.NotNeeded, library, []);
                return _done;
            }

            _done = Apply(library, ElfSymbolVersions.Read(libStdCxx).Definitions);
            return _done;
        }
    }

    /// <summary>
    /// The version needs of <paramref name="library"/> on libstdc++ that <paramref name="provided"/>
    /// lacks. Throws when one of them is not known to be safe to weaken.
    /// </summary>
    /// <param name="library">The parsed shim.</param>
    /// <param name="provided">The versions the system libstdc++ defines.</param>
    public static IReadOnlyList<ElfVersionNeed> MissingVersions(ElfSymbolVersions library, IReadOnlyCollection<string> provided)
    {
        ArgumentNullException.ThrowIfNull(library);
        ArgumentNullException.ThrowIfNull(provided);
        var have = provided as IReadOnlySet<string> ?? new HashSet<string>(provided, StringComparer.Ordinal);
        var missing = library.Needs.Where(n => n.File == LibStdCxxName && !have.Contains(n.Name)).ToList();
        var unsafeOnes = missing.Where(n => !SafeToWeaken.Contains(n.Name)).Select(n => n.Name).ToList();
        if (unsafeOnes.Count > 0)
        {
            throw new PlatformNotSupportedException(
                $"{LibraryFileName} needs libstdc++ versions this system lacks and that are not known to be safe to ignore: {string.Join(", ", unsafeOnes)}. Install a newer libstdc++6.");
        }

        return missing;
    }

    /// <summary>Weakens, in place, the needs of <paramref name="libraryPath"/> that <paramref name="provided"/> lacks.</summary>
    /// <param name="libraryPath">The libLibTorchSharp.so to check and maybe patch.</param>
    /// <param name="provided">The versions the system libstdc++ defines.</param>
    public static CompatibilityReport Apply(string libraryPath, IReadOnlyCollection<string> provided)
    {
        byte[] image = File.ReadAllBytes(libraryPath);
        var missing = MissingVersions(ElfSymbolVersions.Parse(image, libraryPath), provided);
        var names = missing.Select(n => n.Name).ToList();
        if (missing.Count == 0)
        {
            return new CompatibilityReport(CompatibilityOutcome.NotNeeded, libraryPath, []);
        }

        if (missing.All(n => n.IsWeak))
        {
            return new CompatibilityReport(CompatibilityOutcome.AlreadyPatched, libraryPath, names);
        }

        foreach (var need in missing)
        {
            ushort flags = (ushort)(need.Flags | ElfVersionNeed.WeakFlag);
            image[need.FlagsOffset] = (byte)flags;
            image[need.FlagsOffset + 1] = (byte)(flags >> 8);
        }

        // Write a sibling and rename over: a process that has the old file mapped keeps its inode,
        // and two processes patching at once both produce the same bytes.
        string temporary = $"{libraryPath}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        File.WriteAllBytes(temporary, image);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temporary, File.GetUnixFileMode(libraryPath));
        }

        File.Move(temporary, libraryPath, overwrite: true);
        return new CompatibilityReport(CompatibilityOutcome.Patched, libraryPath, names);
    }

    /// <summary>The libstdc++ this process uses: the mapped one if already loaded, else the usual system paths.</summary>
    public static string? FindSystemLibStdCxx()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/maps"))
            {
                int slash = line.IndexOf('/', StringComparison.Ordinal);
                if (slash >= 0 && line.Contains("/libstdc++.so", StringComparison.Ordinal))
                {
                    return line[slash..].Trim();
                }
            }
        }
        catch (IOException)
        {
            // No procfs: fall back to the standard locations.
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }

        string[] candidates =
        [
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
            "/usr/lib64/libstdc++.so.6",
            "/usr/lib/libstdc++.so.6",
        ];
        return candidates.FirstOrDefault(File.Exists);
    }
}
