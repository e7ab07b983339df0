namespace MoeServe.Runtime;

/// <summary>What runs the experts of a model quantized to 4-bit blocks (RuntimeOptions.ExpertKernel).</summary>
public enum ExpertKernel
{
    /// <summary>
    /// The managed int4 kernel for every expert it can compute exactly as ONNX Runtime's accuracy_level 4
    /// (symmetric 4-bit blocks of 32, on a CPU device, AVX2 and FMA present): it reads the codes as stored,
    /// 0.625 bytes a weight, where MatMulNBits keeps a repacked copy of 0.875. ONNX Runtime runs the rest.
    /// </summary>
    Auto,

    /// <summary>An ONNX Runtime session for every expert.</summary>
    Onnx,
}
