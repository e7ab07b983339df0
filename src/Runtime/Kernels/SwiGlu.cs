using System.Numerics.Tensors;

namespace MoeServe.Runtime.Kernels;

/// <summary>The part of a SwiGLU expert between its two projections, shared by the managed experts.</summary>
internal static class SwiGlu
{
    /// <summary>
    /// product [rows, hidden] = silu(gate) * up, for <paramref name="both"/> [rows, 2 hidden] holding each row's gate
    /// then its up projection, as the exported graph's Split, Sigmoid and two Muls compute it.
    /// </summary>
    public static void Gate(ReadOnlySpan<float> both, int rows, int hidden, Span<float> product)
    {
        for (int r = 0; r < rows; r++)
        {
            var gate = both.Slice(r * 2 * hidden, hidden);
            var up = both.Slice((r * 2 * hidden) + hidden, hidden);
            var p = product.Slice(r * hidden, hidden);
            TensorPrimitives.Sigmoid(gate, p);
            TensorPrimitives.Multiply(p, gate, p);
            TensorPrimitives.Multiply(p, up, p);
        }
    }
}
