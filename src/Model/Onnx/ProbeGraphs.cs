using Onnx;

namespace MoeServe.Model.Onnx;

/// <summary>
/// Small stand-alone graphs for measuring the machine rather than a model (bench's matrix-multiply
/// peak). Built here with the same builder as the model's graphs, so the opset, IR version and
/// initializer layout are the ones the runtime is tested with.
/// </summary>
public static class ProbeGraphs
{
    /// <summary>The MatMul probe's input name.</summary>
    public const string MatMulInput = "x";

    /// <summary>The MatMul probe's output name.</summary>
    public const string MatMulOutput = "y";

    /// <summary>y [N, n] = x [N, n] W [n, n]: one MatMul with W a float32 initializer.</summary>
    /// <param name="n">Width of x and both sides of W.</param>
    /// <param name="weights">W row-major, n * n values.</param>
    public static ModelProto MatMul(int n, ReadOnlySpan<float> weights)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        if (weights.Length != n * n)
        {
            throw new ArgumentException($"W needs {n * n} values for n = {n}, got {weights.Length}.", nameof(weights));
        }

        var g = new OnnxGraphBuilder("matmul_peak", TensorDType.Float32);
        string x = g.FloatInput(MatMulInput, "N", n);
        string w = g.Weight("w", [n, n], weights);
        g.Node("MatMul", [x, w], [MatMulOutput]);
        g.FloatOutput(MatMulOutput, MatMulOutput, "N", n);
        return g.Build("MoeServe probe: y = x W (matrix-multiply peak)");
    }

    /// <summary>y [N, weight.N] = x [N, weight.K] W^T: one MatMulNBits node over <paramref name="weight"/>.</summary>
    /// <param name="weight">The blockwise-quantized W.</param>
    /// <param name="accuracyLevel">MatMulNBits' accuracy_level.</param>
    public static ModelProto QuantizedMatMul(Quantization.BlockQuantizedMatrix weight, int accuracyLevel)
    {
        ArgumentNullException.ThrowIfNull(weight);
        var g = new OnnxGraphBuilder("matmulnbits_probe", TensorDType.Float32);
        string x = g.FloatInput(MatMulInput, "N", weight.K);
        g.FloatOutput(MatMulOutput, g.QuantizedMatMul(x, "w", weight, accuracyLevel), "N", weight.N);
        return g.Build("MoeServe probe: y = x W^T, W blockwise quantized");
    }
}
