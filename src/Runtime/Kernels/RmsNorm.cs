using System.Numerics.Tensors;

namespace MoeServe.Runtime.Kernels;

/// <summary>RMSNorm as the exported graphs compute it: y = x / sqrt(mean(x^2) + eps) * weight, row by row.</summary>
internal static class RmsNorm
{
    /// <summary>Normalises <paramref name="rows"/> rows of x [rows, weight.Length] into y.</summary>
    public static void Apply(ReadOnlySpan<float> x, int rows, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        int d = weight.Length;
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * d, d);
            var yr = y.Slice(r * d, d);
            float root = MathF.Sqrt((TensorPrimitives.SumOfSquares(xr) / d) + eps);
            TensorPrimitives.Divide(xr, root, yr);
            TensorPrimitives.Multiply(yr, weight, yr);
        }
    }
}
