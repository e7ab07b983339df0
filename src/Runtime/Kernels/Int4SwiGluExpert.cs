using System.Numerics.Tensors;

namespace MoeServe.Runtime.Kernels;

/// <summary>
/// A SwiGLU expert whose matrices are 4-bit blocks, run in managed code: y = (silu(x W1^T) * (x W3^T)) W2^T,
/// with W1 and W3 stacked by rows in one matrix as the exported graph has them. No ONNX Runtime session
/// exists for the expert.
/// </summary>
internal sealed class Int4SwiGluExpert
{
    private readonly Int4Matrix _w13;
    private readonly Int4Matrix _w2;

    /// <param name="w13">W1 then W3: [2 hidden, dModel].</param>
    /// <param name="w2">W2: [dModel, hidden].</param>
    public Int4SwiGluExpert(Int4Matrix w13, Int4Matrix w2)
    {
        if (w13.Columns != w2.Rows || w13.Rows != 2 * w2.Columns)
        {
            throw new ArgumentException($"W1/W3 [{w13.Rows}, {w13.Columns}] and W2 [{w2.Rows}, {w2.Columns}] are not one SwiGLU expert.");
        }

        (_w13, _w2) = (w13, w2);
    }

    public int DModel => _w2.Rows;

    public int Hidden => _w2.Columns;

    /// <summary>y [rows, DModel] for x [rows, DModel], with <paramref name="scratch"/> the calling worker's.</summary>
    public void Run(ReadOnlySpan<float> x, int rows, Span<float> y, Int4ExpertScratch scratch)
    {
        int h = Hidden;
        scratch.Activations.Fill(x, rows, DModel);
        var both = scratch.Both(rows * 2 * h);
        _w13.Multiply(scratch.Activations, both);
        var product = scratch.Product(rows * h);
        for (int r = 0; r < rows; r++)
        {
            var gate = both.Slice(r * 2 * h, h);
            var up = both.Slice((r * 2 * h) + h, h);
            var p = product.Slice(r * h, h);
            TensorPrimitives.Sigmoid(gate, p);
            TensorPrimitives.Multiply(p, gate, p);
            TensorPrimitives.Multiply(p, up, p);
        }

        scratch.Activations.Fill(product, rows, h);
        _w2.Multiply(scratch.Activations, y);
    }
}

/// <summary>One worker's buffers for <see cref="Int4SwiGluExpert.Run"/>: grown to the largest step, reused.</summary>
internal sealed class Int4ExpertScratch
{
    private float[] _both = [];
    private float[] _product = [];

    public Int8Rows Activations { get; } = new();

    public Span<float> Both(int length) => Grow(ref _both, length);

    public Span<float> Product(int length) => Grow(ref _product, length);

    private static Span<float> Grow(ref float[] buffer, int length)
    {
        if (buffer.Length < length)
        {
            buffer = new float[length];
        }

        return buffer.AsSpan(0, length);
    }
}
