using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using MoeServe.Runtime.Sessions;

namespace MoeServe.Runtime.Tests.Support;

/// <summary>What every test of this assembly relies on, set before the first test runs.</summary>
internal static class TestProcess
{
    /// <summary>
    /// The first ONNX Runtime environment of a process fixes its global thread pool for every later engine, and
    /// which test runs first is not fixed: a small float16 model would ask for every core (ExpertScale), a plain
    /// session for no global pool at all, and a pool of two could change the summation order behind the
    /// exact-equality tests. So the engines' environment is created here, with one intra-op thread.
    /// </summary>
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255:The 'ModuleInitializer' attribute should not be used in libraries", Justification = "A test assembly: the initializer sets up the test process, as a fixture for every test.")]
    internal static void CreateTheEnginesEnvironment() => SharedOrtEnvironment.Acquire(intraOpThreads: 1);
}
