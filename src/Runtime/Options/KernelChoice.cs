namespace MoeServe.Runtime;

/// <summary>Whether managed kernels replace ONNX Runtime where they apply (RuntimeOptions.Kernels); docs/runtime.md, "Managed kernels".</summary>
public enum KernelChoice
{
    /// <summary>
    /// Managed kernels where they apply, on CPU devices with AVX2 and FMA: the int4 kernel for every expert it can
    /// compute exactly as ONNX Runtime's accuracy_level 4 (symmetric 4-bit blocks of 32; it reads the codes as
    /// stored, 0.625 bytes a weight, where MatMulNBits keeps a repacked copy of 0.875), and, for a small float16
    /// model, the float16 kernels for steps of few tokens (experts and dense graphs, beside their sessions).
    /// ONNX Runtime runs the rest.
    /// </summary>
    Auto,

    /// <summary>An ONNX Runtime session for every graph and every step.</summary>
    Onnx,
}
