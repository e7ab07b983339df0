using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MoeServe.Runtime.Sessions;

/// <summary>
/// One ONNX graph's session (the single owner of its InferenceSession) with its input and output
/// names fixed, run with caller-provided OrtValues over pinned buffers: outputs are written straight
/// into the caller's memory, nothing is copied or allocated by ONNX Runtime for them.
/// </summary>
internal sealed class GraphSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string[] _inputs;
    private readonly string[] _outputs;

    public GraphSession(InferenceSession session, string file, string[] inputs, string[] outputs)
    {
        _session = session;
        File = file;
        _inputs = inputs;
        _outputs = outputs;
        var missing = inputs.Where(n => !session.InputMetadata.ContainsKey(n)).Select(n => "input " + n)
            .Concat(outputs.Where(n => !session.OutputMetadata.ContainsKey(n)).Select(n => "output " + n))
            .ToList();
        if (missing.Count > 0)
        {
            session.Dispose();
            throw new InvalidDataException($"{file}: the graph lacks {string.Join(", ", missing)} (see docs/contracts.md).");
        }
    }

    public string File { get; }

    public void Run(RunOptions runOptions, OrtValue[] inputs, OrtValue[] outputs)
        => _session.Run(runOptions, _inputs, inputs, _outputs, outputs);

    public void Dispose() => _session.Dispose();

    /// <summary>A float tensor over pinned memory (no copy): rows x cols starting at element <paramref name="offset"/>.</summary>
    public static OrtValue Float(float[] pinned, int offset, long[] shape) => Pinned(pinned, offset, shape, TensorElementType.Float, "floats");

    /// <summary>An int64 tensor over pinned memory (no copy).</summary>
    public static OrtValue Int64(long[] pinned, int offset, long[] shape) => Pinned(pinned, offset, shape, TensorElementType.Int64, "int64");

    private static OrtValue Pinned<T>(T[] pinned, int offset, long[] shape, TensorElementType type, string typeName)
        where T : unmanaged
    {
        long elements = 1;
        foreach (long s in shape)
        {
            elements *= s;
        }

        if (offset + elements > pinned.Length)
        {
            throw new InvalidOperationException($"Tensor of {elements} {typeName} at {offset} overruns a buffer of {pinned.Length}.");
        }

        nint ptr = pinned.Length == 0 ? 0 : Marshal.UnsafeAddrOfPinnedArrayElement(pinned, Math.Min(offset, pinned.Length - 1));
        return OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, type, shape, ptr, elements * Unsafe.SizeOf<T>());
    }
}
