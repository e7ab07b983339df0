using System.Collections.Concurrent;

using LLama.Native;

namespace MoeServe.Peer;

/// <summary>
/// The process-wide set-up of llama.cpp's native library, done once: its log goes to a short in-memory
/// tail (errors and warnings) that failures quote, instead of ~280 lines of stderr per model load.
/// Used by the bench peer and by the tests that take llama.cpp as their reference.
/// </summary>
public static class LlamaCppNative
{
    private static readonly object Gate = new();
    private static readonly ConcurrentQueue<string> RecentLog = new();
    private static bool _initialised;

    /// <summary>Registers the log callback and loads the library; must run before any other native call.</summary>
    public static void EnsureInitialised()
    {
        lock (Gate)
        {
            if (_initialised)
            {
                return;
            }

            // The callback only takes effect when registered before the library loads. The CPU variant
            // (avx2/avx512) is LLamaSharp's pick from what the machine has: forcing one it lacks kills the process.
            NativeLibraryConfig.All.WithLogCallback((level, message) =>
            {
                if (level is LLamaLogLevel.Error or LLamaLogLevel.Warning)
                {
                    RecentLog.Enqueue($"[{level}] {message.TrimEnd()}");
                    while (RecentLog.Count > 50)
                    {
                        RecentLog.TryDequeue(out _);
                    }
                }
            });
            NativeApi.llama_empty_call();
            _initialised = true;
        }
    }

    /// <summary>The last errors and warnings llama.cpp logged, one per line, for an exception message.</summary>
    public static string RecentErrors() => string.Join("\n", RecentLog);
}
