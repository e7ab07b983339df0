using System.Runtime.InteropServices;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MoeServe.Model.Onnx;
using MoeServe.Model.Quantization;
using MoeServe.Runtime.Kernels;

namespace MoeServe.Runtime.Tests.Kernels;

/// <summary>
/// The managed int4 kernel against the integer sums it must produce (written out naively here) and against
/// ONNX Runtime's MatMulNBits at accuracy_level 4, whose numbers it stands in for: odd and even block counts (the
/// one-row loop takes two blocks a pass), one to twelve rows (groups of four, two and one), output counts that
/// leave the last panel of 8 partly padding; AVX-VNNI's sums against AVX2's.
/// </summary>
public sealed class Int4MatMulTests
{
    public static TheoryData<int, int> Shapes => new()
    {
        { 1, 1 }, { 2, 3 }, { 3, 4 }, { 5, 5 }, { 8, 1 }, { 8, 4 }, { 9, 8 }, { 12, 9 }, { 16, 2 }, { 64, 1 }, { 7, 6 }, { 4, 7 }, { 3, 12 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Multiply_EqualsTheBlockwiseIntegerSums(int blocks, int rows)
    {
        var (w, x) = Operands(blocks, rows, n: 21, seed: (blocks * 31) + rows);
        float[] y = Own(w, x, rows);

        double[] expected = NaiveSums(w, x, rows);
        double max = expected.Max(Math.Abs);
        for (int i = 0; i < y.Length; i++)
        {
            Assert.True(Math.Abs(y[i] - expected[i]) <= 1e-5 * max, $"element {i}: {y[i]} vs {expected[i]} (max |y| {max})");
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Multiply_MatchesMatMulNBitsAtAccuracyLevel4(int blocks, int rows)
    {
        var (w, x) = Operands(blocks, rows, n: 40 + (rows % 3), seed: (blocks * 17) + rows);
        float[] own = Own(w, x, rows);

        // The process's ONNX Runtime environment is the engines' already (TestProcess): a plain session created
        // first would leave every later engine in this test process without global pools.
        float[] ort = new float[rows * w.N];
        using var session = new InferenceSession(ProbeGraphs.QuantizedMatMul(w, accuracyLevel: 4).ToByteArray());
        using var input = OrtValue.CreateTensorValueFromMemory(x, [rows, w.K]);
        using var output = OrtValue.CreateTensorValueFromMemory(ort, [rows, w.N]);
        using var run = new RunOptions();
        session.Run(run, [ProbeGraphs.MatMulInput], [input], [ProbeGraphs.MatMulOutput], [output]);

        float max = ort.Max(Math.Abs);
        float diff = own.Zip(ort, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(max > 0);
        Assert.True(diff <= 1e-4f * max, $"max |diff| {diff} of max |y| {max}");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Multiply_GivesTheSameNumbersWithAvxVnniAsWithAvx2(int blocks, int rows)
    {
        var (w, x) = Operands(blocks, rows, n: 19, seed: (blocks * 13) + rows);
        var quantized = new Int8Rows();
        quantized.Fill(x, rows, w.K);
        float[] madd = new float[rows * w.N];
        Matrix(w).Multiply(quantized, madd, Int4Dot.Madd);
        float[] vnni = new float[rows * w.N];
        if (!System.Runtime.Intrinsics.X86.AvxVnni.IsSupported)
        {
            Assert.Throws<PlatformNotSupportedException>(() => Matrix(w).Multiply(quantized, vnni, Int4Dot.Vnni));
            Assert.Equal(Int4Dot.Madd, Int4MatMul.BestDot);
            return;
        }

        // The same integer sums, converted and scaled by the same instructions: equal to the last bit.
        Matrix(w).Multiply(quantized, vnni, Int4Dot.Vnni);
        Assert.Equal(madd, vnni);
        Assert.Contains(madd, v => v != 0);
    }

    [Fact]
    public void Multiply_OverPanelRangesEqualsTheWholeProduct()
    {
        var (w, x) = Operands(blocks: 3, rows: 5, n: 43, seed: 5);
        var matrix = Matrix(w);
        var quantized = new Int8Rows();
        quantized.Fill(x, 5, w.K);
        float[] whole = new float[5 * w.N];
        matrix.Multiply(quantized, whole);

        float[] split = new float[5 * w.N];
        matrix.Multiply(quantized, split, 0, 2);
        matrix.Multiply(quantized, split, 2, matrix.Panels - 2);
        Assert.Equal(6, matrix.Panels);
        Assert.Equal(whole, split);
    }

    [Fact]
    public void Multiply_RefusesShapesThatDoNotMatch()
    {
        var (w, x) = Operands(blocks: 2, rows: 1, n: 8, seed: 1);
        var quantized = new Int8Rows();
        quantized.Fill(x, 1, w.K);
        Assert.Throws<ArgumentException>(() => new Int4Matrix(w.N + 1, w.K, w.Data, MemoryMarshal.AsBytes(w.Scales.AsSpan())));
        Assert.Throws<ArgumentOutOfRangeException>(() => Matrix(w).Multiply(quantized, new float[w.N], 1, 1));
        quantized.Fill(x.AsSpan(0, 32), 1, 32);
        Assert.Throws<ArgumentException>(() => Matrix(w).Multiply(quantized, new float[w.N]));
        Assert.Throws<ArgumentException>(() => quantized.Fill(x, 1, 48));
    }

    private static Int4Matrix Matrix(BlockQuantizedMatrix w) => new(w.N, w.K, w.Data, MemoryMarshal.AsBytes(w.Scales.AsSpan()));

    private static float[] Own(BlockQuantizedMatrix w, float[] x, int rows)
    {
        var quantized = new Int8Rows();
        quantized.Fill(x, rows, w.K);
        float[] y = new float[rows * w.N];
        Matrix(w).Multiply(quantized, y);
        return y;
    }

    // W [n, 32 blocks] symmetric int4 (no zero points: the layout GGUF's Q4_0 copies into) and x [rows, K].
    private static (BlockQuantizedMatrix W, float[] X) Operands(int blocks, int rows, int n, int seed)
    {
        var random = new Random(seed);
        int k = blocks * Int8Rows.BlockSize;
        float[] weights = Enumerable.Range(0, n * k).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
        float[] x = Enumerable.Range(0, rows * k).Select(_ => (float)((random.NextDouble() * 4) - 2)).ToArray();
        x[0] = 0; // a block with a zero in it, and below a block of zeros
        if (rows > 1)
        {
            Array.Clear(x, k, Int8Rows.BlockSize);
        }

        return (BlockwiseQuantizer.Quantize(weights, n, k, bits: 4, blockSize: Int8Rows.BlockSize, zeroPoints: false), x);
    }

    // sum over blocks of wScale * xScale * sum_i (wCode_i - 8) * xCode_i, x quantized symmetric per block to [-127, 127].
    private static double[] NaiveSums(BlockQuantizedMatrix w, float[] x, int rows)
    {
        int blocks = w.BlocksPerRow;
        double[] y = new double[rows * w.N];
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < w.N; j++)
            {
                double sum = 0;
                for (int b = 0; b < blocks; b++)
                {
                    var values = x.AsSpan((r * w.K) + (b * 32), 32);
                    float max = 0;
                    foreach (float v in values)
                    {
                        max = Math.Max(max, Math.Abs(v));
                    }

                    float inverse = max == 0 ? 0 : 127f / max;
                    long dot = 0;
                    for (int i = 0; i < 32; i++)
                    {
                        byte pair = w.Data[(((j * blocks) + b) * 16) + (i / 2)];
                        int code = i % 2 == 0 ? pair & 0x0F : pair >> 4;
                        dot += (code - 8) * (long)MathF.Round(values[i] * inverse);
                    }

                    sum += (double)w.Scales[(j * blocks) + b] * (max / 127f) * dot;
                }

                y[(r * w.N) + j] = sum;
            }
        }

        return y;
    }
}
