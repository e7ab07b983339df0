using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MoeServe.Model.Quantization;
using Onnx;

namespace MoeServe.Model.Tests.Quantization;

/// <summary>
/// Runs one com.microsoft MatMulNBits node in ONNX Runtime over the quantizer's output and checks it
/// against x W^T with W dequantized in managed code: proves the packing is the operator's.
/// </summary>
public sealed class MatMulNBitsOperatorTests
{
    [Theory]
    [InlineData(8, false, 1, 64)]
    [InlineData(8, true, 1, 64)]
    [InlineData(4, false, 1, 64)]
    [InlineData(4, true, 1, 80)]
    [InlineData(4, true, 0, 64)]
    [InlineData(8, false, 4, 64)]
    [InlineData(4, true, 4, 64)]
    public void MatMulNBits_QuantizedWeight_MatchesFloatMatMulOfDequantized(int bits, bool zeroPoints, int accuracyLevel, int k) =>
        CheckAgainstFloat(BlockwiseQuantizer.Quantize(BlockwiseQuantizerTests.RandomWeights(48, k, seed: 7), 48, k, bits, 32, zeroPoints), accuracyLevel);

    [Theory]
    [InlineData(4, 1)]
    [InlineData(4, 4)]
    [InlineData(8, 4)]
    public void MatMulNBits_NegativeScales_MatchFloatMatMul(int bits, int accuracyLevel)
    {
        // GGUF's Q4_0 stores d = max / -8 (negative when the block's largest magnitude is positive):
        // a lossless mapping needs the operator to take negative scales as they are.
        var q = BlockwiseQuantizer.Quantize(BlockwiseQuantizerTests.RandomWeights(48, 64, seed: 9), 48, 64, bits, 32, zeroPoints: false);
        float[] flipped = q.Scales.Select((s, i) => i % 3 == 0 ? -s : s).ToArray();
        CheckAgainstFloat(q with { Scales = flipped }, accuracyLevel);
    }

    private static void CheckAgainstFloat(BlockQuantizedMatrix q, int accuracyLevel)
    {
        int n = q.N;
        int k = q.K;
        int bits = q.Bits;
        const int m = 5;
        float[] deq = SpecDequantizer.Dequantize(q.Data, q.Scales, q.ZeroPoints, n, k, bits, q.BlockSize);
        var random = new Random(11);
        float[] x = Enumerable.Range(0, m * k).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();

        float[] expected = new float[m * n];
        double norm = 0;
        for (int r = 0; r < m; r++)
        {
            for (int c = 0; c < n; c++)
            {
                double sum = 0;
                for (int i = 0; i < k; i++)
                {
                    sum += x[(r * k) + i] * deq[(c * k) + i];
                }

                expected[(r * n) + c] = (float)sum;
                norm = Math.Max(norm, Math.Abs(sum));
            }
        }

        float[] actual = Run(OneNodeModel(q, accuracyLevel), x, m, k);
        float maxError = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();

        // Levels 0/1 compute in float32 on the dequantized weights: float rounding only. Level 4
        // quantizes each block of activations to int8 as well, an error of about 1/254 of a block's max |x|
        // per product; 2% of the largest output bounds it with room.
        double bound = accuracyLevel == 4 ? 0.02 * norm : 1e-4 * norm;
        Assert.True(maxError <= bound, $"max |error| {maxError} > {bound} (largest |y| {norm})");
    }

    private static float[] Run(byte[] model, float[] x, int m, int k)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1 };
        using var session = new InferenceSession(model, options);
        using var input = OrtValue.CreateTensorValueFromMemory(x, [m, k]);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, ["x"], [input], ["y"]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    // Built straight from the protobuf classes, not with the project's graph builder: the test checks the layout, not the builder.
    private static byte[] OneNodeModel(BlockQuantizedMatrix q, int accuracyLevel)
    {
        var graph = new GraphProto { Name = "matmulnbits" };
        graph.Input.Add(FloatValue("x", q.K));
        graph.Output.Add(FloatValue("y", q.N));
        graph.Initializer.Add(Tensor("b", TensorProto.Types.DataType.Uint8, [q.N, q.BlocksPerRow, q.BlobSize], q.Data));
        graph.Initializer.Add(Tensor("scales", TensorProto.Types.DataType.Float, [q.Scales.Length], System.Runtime.InteropServices.MemoryMarshal.AsBytes(q.Scales.AsSpan()).ToArray()));
        var node = new NodeProto { OpType = "MatMulNBits", Domain = "com.microsoft", Name = "mm" };
        node.Input.AddRange(["x", "b", "scales"]);
        if (q.ZeroPoints is not null)
        {
            graph.Initializer.Add(Tensor("zp", TensorProto.Types.DataType.Uint8, [q.ZeroPoints.Length], q.ZeroPoints));
            node.Input.Add("zp");
        }

        node.Output.Add("y");
        foreach (var (name, value) in new (string, long)[] { ("K", q.K), ("N", q.N), ("bits", q.Bits), ("block_size", q.BlockSize), ("accuracy_level", accuracyLevel) })
        {
            node.Attribute.Add(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value });
        }

        graph.Node.Add(node);
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        return model.ToByteArray();
    }

    private static ValueInfoProto FloatValue(string name, int width)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "M" });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = width });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } } };
    }

    private static TensorProto Tensor(string name, TensorProto.Types.DataType type, long[] dims, byte[] raw)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(raw) };
        tensor.Dims.AddRange(dims);
        return tensor;
    }
}
