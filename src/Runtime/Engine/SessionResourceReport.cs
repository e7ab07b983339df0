namespace MoeServe.Runtime;

/// <summary>How a loaded engine's ONNX Runtime sessions share threads and memory (<see cref="RuntimeOptions.ShareSessionResources"/>).</summary>
/// <param name="SharedThreadPools">Every session runs on the process's global thread pools (DisablePerSessionThreads).</param>
/// <param name="IntraOpThreads">Intra-op threads: of the global pool when shared, else of each session.</param>
/// <param name="SharedCpuArena">CPU sessions allocate from one arena registered on the environment (session.use_env_allocators = 1).</param>
/// <param name="Sessions">Sessions created at load (every graph, experts included; CPU re-run sessions made later are not counted).</param>
/// <param name="ManagedExperts">Experts run by the managed int4 kernel instead of a session (<see cref="KernelChoice"/>).</param>
/// <param name="ManagedFewRowExperts">Experts whose steps of few rows run the managed float16 kernel beside their session.</param>
/// <param name="ManagedFewRowDenseGraphs">Dense graphs (embed, qkv, post, head) run in managed code: a float16 model's on steps of few tokens beside their sessions, a 4-bit model's on every step instead of them.</param>
/// <param name="Graphs">The model's graph files, whether a session or a managed kernel runs each.</param>
public sealed record SessionResourceReport(bool SharedThreadPools, int IntraOpThreads, bool SharedCpuArena, int Sessions, int ManagedExperts = 0, int ManagedFewRowExperts = 0, int ManagedFewRowDenseGraphs = 0, int Graphs = 0);
