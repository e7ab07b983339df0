namespace MoeServe.Runtime;

/// <summary>What one device of <see cref="RuntimeOptions.Devices"/> actually runs on.</summary>
/// <param name="DeviceId">The device id from the options.</param>
/// <param name="Requested">The provider the options asked for.</param>
/// <param name="ProviderUsed">The provider the device's sessions use: "CUDAExecutionProvider" or "CPUExecutionProvider".</param>
/// <param name="FellBack">True when CUDA was asked for (Cuda or Auto) and the device runs on CPU instead.</param>
/// <param name="FallbackReason">Why CUDA could not be used (the ONNX Runtime message), when <paramref name="FellBack"/>.</param>
/// <param name="ExpertsPlaced">How many expert graphs (over all layers) are placed on this device.</param>
public sealed record DeviceReport(int DeviceId, ExecutionProviderKind Requested, string ProviderUsed, bool FellBack, string? FallbackReason, int ExpertsPlaced)
{
    /// <summary>ONNX Runtime's name of the CPU provider.</summary>
    public const string CpuProvider = "CPUExecutionProvider";

    /// <summary>ONNX Runtime's name of the CUDA provider.</summary>
    public const string CudaProvider = "CUDAExecutionProvider";
}
