using System.Runtime.InteropServices;

namespace MoeServe.Runtime.Sessions;

/// <summary>
/// Native memory advice to the C library and the kernel. Trim returns the native memory glibc keeps after a model load. ONNX Runtime parses each graph's initializers
/// into temporary buffers and frees them once the session holds its own (pre-packed) copy; glibc keeps
/// those freed blocks in its heaps, fragmented between live ones, so without a trim a 1,000-graph model
/// stays resident by hundreds of MB more than its weights (measured in docs/benchmarks.md, issue 17).
/// </summary>
internal static partial class NativeHeap
{
    /// <summary>Asks glibc to give freed pages back to the OS; a no-op where there is no glibc.</summary>
    /// <returns>Whether any memory was released.</returns>
    public static bool Trim()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            return MallocTrim(0) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // musl and other C libraries have no malloc_trim
        }
    }

    /// <summary>
    /// Advises Linux to back [<paramref name="address"/>, + <paramref name="length"/>) with transparent huge pages
    /// (madvise MADV_HUGEPAGE) before it is first touched; elsewhere, or where huge pages are off, nothing happens.
    /// </summary>
    public static void AdviseHugePages(nint address, nuint length)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        try
        {
            // Only a hint: its result changes nothing the caller does.
            _ = Madvise(address, length, AdviseHugePage);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    private const int AdviseHugePage = 14;

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
