using System.Runtime.InteropServices;
using MoeServe.Runtime.Kernels;

namespace MoeServe.Runtime.Tests.Kernels;

/// <summary>
/// The managed float16 kernel against the float64 sums of the same float16 weights: whole and padded strips of 32
/// columns, even and odd K (the one-row loop takes two inputs an iteration), one to nine rows (fours, pairs and a
/// last row), and activations too large for the scaled path.
/// </summary>
public sealed class HalfMatMulTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 32, 1 }, { 7, 32, 2 }, { 64, 96, 1 }, { 37, 70, 3 }, { 256, 512, 2 }, { 33, 5, 5 }, { 16, 33, 4 },
        { 37, 64, 5 }, { 8, 32, 9 }, { 256, 256, 8 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Multiply_EqualsTheSumsOfTheWidenedWeights(int k, int n, int rows) => AssertSums(k, n, rows, largest: 2);

    [Theory]
    [InlineData(3e20f)]
    [InlineData(1e30f)]
    public void Multiply_ActivationsTooLargeToScale_StillGiveTheSums(float largest) => AssertSums(40, 48, 3, largest);

    [Fact]
    public void Multiply_NaNActivation_GivesNaNWhereItIsUsed()
    {
        var w = new HalfMatrix(2, 32, MemoryMarshal.AsBytes(Enumerable.Repeat((Half)0.5f, 64).ToArray().AsSpan()));
        float[] y = new float[2 * 32];
        w.Multiply([1f, float.NaN, 1f, 2f], 2, y);
        Assert.All(y[..32], v => Assert.True(float.IsNaN(v)));
        Assert.All(y[32..], v => Assert.Equal(1.5f, v));
    }

    private static void AssertSums(int k, int n, int rows, float largest)
    {
        var random = new Random((k * 131) + (n * 7) + rows);
        var weights = new Half[k * n];
        for (int i = 0; i < weights.Length; i++)
        {
            // Subnormal and zero weights among them: the widening must be exact for every finite float16.
            weights[i] = (i % 17) switch
            {
                0 => (Half)0f,
                1 => BitConverter.Int16BitsToHalf((short)(1 + (i % 1000))),
                _ => (Half)((random.NextDouble() * 2) - 1),
            };
        }

        var x = new float[rows * k];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)((random.NextDouble() * 2) - 1) * (i % 5 == 0 ? largest : 1);
        }

        // Garbage in y beyond what the kernel writes must not matter, and nothing past rows x n may be written.
        var y = Enumerable.Repeat(float.NaN, (rows * n) + 3).ToArray();
        new HalfMatrix(k, n, MemoryMarshal.AsBytes(weights.AsSpan())).Multiply(x, rows, y);

        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < n; j++)
            {
                double expected = 0, magnitude = 0;
                for (int i = 0; i < k; i++)
                {
                    double term = (double)weights[(i * n) + j] * x[(r * k) + i];
                    expected += term;
                    magnitude += Math.Abs(term);
                }

                float actual = y[(r * n) + j];
                Assert.True(Math.Abs(actual - expected) <= (1e-6 * magnitude) + 1e-30, $"row {r} column {j}: {actual} vs {expected}");
            }
        }

        Assert.All(y[(rows * n)..], v => Assert.True(float.IsNaN(v)));
    }

    [Fact]
    public void Multiply_StripRange_WritesOnlyItsColumns()
    {
        var random = new Random(5);
        var weights = Enumerable.Range(0, 16 * 70).Select(_ => (Half)((random.NextDouble() * 2) - 1)).ToArray();
        var matrix = new HalfMatrix(16, 70, MemoryMarshal.AsBytes(weights.AsSpan()));
        float[] x = Enumerable.Range(0, 2 * 16).Select(i => (float)Math.Sin(i)).ToArray();
        float[] whole = new float[2 * 70];
        matrix.Multiply(x, 2, whole);

        // Strips 1 and 2 of three: columns 32-69; columns 0-31 stay as they were.
        float[] part = Enumerable.Repeat(float.NaN, 2 * 70).ToArray();
        HalfMatMul.Multiply(x, 2, matrix, part, firstStrip: 1, strips: 2);
        for (int r = 0; r < 2; r++)
        {
            Assert.All(part.AsSpan(r * 70, 32).ToArray(), v => Assert.True(float.IsNaN(v)));
            Assert.Equal(whole.AsSpan((r * 70) + 32, 38).ToArray(), part.AsSpan((r * 70) + 32, 38).ToArray());
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => HalfMatMul.Multiply(x, 2, matrix, part, firstStrip: 1, strips: 3));
    }

    [Fact]
    public void Matrix_RefusesBytesThatAreNotItsShape()
    {
        Assert.Throws<ArgumentException>(() => new HalfMatrix(4, 8, new byte[(4 * 8 * 2) - 2]));
        Assert.Throws<ArgumentException>(() => new HalfMatrix(0, 8, []));
    }

    [Fact]
    public void Multiply_RefusesBuffersSmallerThanTheShapes()
    {
        var w = new HalfMatrix(4, 8, new byte[4 * 8 * 2]);
        Assert.Throws<ArgumentException>(() => w.Multiply(new float[7], 2, new float[16]));
        Assert.Throws<ArgumentException>(() => w.Multiply(new float[8], 2, new float[15]));
    }
}
