using Microsoft.ML.OnnxRuntime;

namespace MoeServe.Runtime.Sessions;

/// <summary>
/// The process's one ONNX Runtime environment, created with global thread pools, and one CPU arena
/// allocator registered on it. Sessions that call DisablePerSessionThreads and set
/// <c>session.use_env_allocators</c> = 1 use both instead of creating their own, so a model with
/// 1,024 expert graphs has one intra-op pool and one arena, not 1,024 of each (issue 17).
/// </summary>
/// <remarks>
/// OrtEnv is a process-wide singleton that ONNX Runtime creates on first use and never re-creates, so
/// the first engine fixes the pool size for the process. When something else created the environment
/// first (a plain SessionOptions before any engine), it has no global pools and sessions must keep
/// per-session threads: ONNX Runtime refuses DisablePerSessionThreads on such an environment. The CPU
/// allocator can be registered on any environment, so the arena is shared either way. The env and the
/// allocator live until the process ends (ONNX Runtime owns them); nothing here is disposed.
/// </remarks>
internal static class SharedOrtEnvironment
{
    private static readonly Lock Gate = new();
    private static SharedOrtState? _state;

    /// <summary>
    /// The shared state, created on the first call: global pools of <paramref name="intraOpThreads"/>
    /// threads (1 = every Run on its calling thread, no pool threads at all) and the shared arena.
    /// Later calls return the same state whatever they ask for.
    /// </summary>
    public static SharedOrtState Acquire(int intraOpThreads)
    {
        lock (Gate)
        {
            if (_state is not null)
            {
                return _state;
            }

            bool global = false;
            if (!OrtEnv.IsCreated)
            {
                using var threading = new OrtThreadingOptions
                {
                    GlobalIntraOpNumThreads = intraOpThreads,

                    // Sessions run sequentially (ORT_SEQUENTIAL): an inter-op pool would only hold idle threads.
                    GlobalInterOpNumThreads = 1,

                    // The engine's own workers drive Runs concurrently on two cores: spinning pool threads steal them.
                    GlobalSpinControl = false,
                };
                var creation = new EnvironmentCreationOptions
                {
                    logId = "MoeServe",
                    logLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING,
                    threadOptions = threading,
                };
                OrtEnv.CreateInstanceWithOptions(ref creation);
                global = true;
            }

            bool arena = RegisterCpuArena();
            _state = new SharedOrtState(global, global ? intraOpThreads : 0, arena);
            return _state;
        }
    }

    private static bool RegisterCpuArena()
    {
        // Defaults (-1 / 0): ONNX Runtime's own arena sizing, growing by powers of two, no cap.
        using var memoryInfo = new OrtMemoryInfo("Cpu", OrtAllocatorType.ArenaAllocator, 0, OrtMemType.Default);
        using var arena = new OrtArenaCfg(0, -1, -1, -1);
        try
        {
            OrtEnv.Instance().CreateAndRegisterAllocator(memoryInfo, arena);
            return true;
        }
        catch (OnnxRuntimeException)
        {
            // E.g. a CPU allocator is already registered by other code: sessions keep their own arenas.
            return false;
        }
    }
}

/// <summary>What the process's ONNX Runtime environment offers sessions.</summary>
/// <param name="GlobalThreadPools">The env was created with global thread pools (sessions may disable their own).</param>
/// <param name="IntraOpThreads">Size of the global intra-op pool (0 when there is none).</param>
/// <param name="CpuArena">A CPU arena allocator is registered on the env for sessions to share.</param>
internal sealed record SharedOrtState(bool GlobalThreadPools, int IntraOpThreads, bool CpuArena);
