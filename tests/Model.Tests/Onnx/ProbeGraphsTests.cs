using Google.Protobuf;
using MoeServe.Model.Onnx;
using MoeServe.Model.Tests.Support;

namespace MoeServe.Model.Tests.Onnx;

public sealed class ProbeGraphsTests
{
    [Fact]
    public void MatMul_RunByOnnxRuntime_EqualsTheManagedProduct()
    {
        const int n = 3;
        float[] w = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        float[] x = [1, 0, -1, 0.5f, 2, 0];
        using var temp = new TempDirectory();
        string path = Path.Combine(temp.Path, "matmul.onnx");
        File.WriteAllBytes(path, ProbeGraphs.MatMul(n, w).ToByteArray());

        using var graph = new OrtGraph(path);
        var (y, shape) = graph.Run((ProbeGraphs.MatMulInput, x, [2, n]))[ProbeGraphs.MatMulOutput];

        Assert.Equal([2L, n], shape);
        // Row i of y is sum over k of x[i, k] W[k, :].
        Assert.Equal([1 - 7, 2 - 8, 3 - 9, 0.5f + 8, 1 + 10, 1.5f + 12], y);
    }

    [Fact]
    public void MatMul_WrongWeightCount_Throws()
    {
        var error = Assert.Throws<ArgumentException>(() => ProbeGraphs.MatMul(3, new float[8]));

        Assert.Contains("9", error.Message, StringComparison.Ordinal);
    }
}
