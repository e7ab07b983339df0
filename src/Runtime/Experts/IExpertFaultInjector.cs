namespace MoeServe.Runtime.Experts;

/// <summary>
/// Test seam for the resilience path: called before each expert Run on its primary (device) session.
/// Throw to simulate a failing device; the engine then re-runs the expert on CPU and counts it.
/// </summary>
public interface IExpertFaultInjector
{
    /// <summary>Called before an expert Run on the primary session of <paramref name="deviceId"/>.</summary>
    /// <param name="layer">Layer index.</param>
    /// <param name="expert">Expert index within the layer.</param>
    /// <param name="deviceId">Device the expert is placed on.</param>
    void BeforeRun(int layer, int expert, int deviceId);
}

/// <summary>The exception a fault injector throws (handled like an ONNX Runtime failure).</summary>
public sealed class InjectedExpertFaultException : Exception
{
    /// <summary>Creates the exception.</summary>
    public InjectedExpertFaultException()
        : base("Injected expert fault.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">Why.</param>
    public InjectedExpertFaultException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    /// <param name="message">Why.</param>
    /// <param name="innerException">Cause.</param>
    public InjectedExpertFaultException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
