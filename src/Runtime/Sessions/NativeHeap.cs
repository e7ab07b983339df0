using System.Runtime.InteropServices;

namespace MoeServe.Runtime.Sessions;

/// <summary>
/// Returns the native memory glibc keeps after a model load. ONNX Runtime parses each graph's initializers
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

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
