namespace MoeServe.Runtime;

/// <summary>Which ONNX Runtime execution provider the engine asks for.</summary>
public enum ExecutionProviderKind
{
    /// <summary>The CPU execution provider only.</summary>
    Cpu,

    /// <summary>The CUDA execution provider on the configured devices; falls back to CPU per device when CUDA cannot load (reported in <see cref="MoeEngine.Devices"/>).</summary>
    Cuda,

    /// <summary>Try CUDA, use CPU where it is not available; the same fallback as <see cref="Cuda"/>, without a warning.</summary>
    Auto,
}
