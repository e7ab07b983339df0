namespace MoeServe.Runtime.Kernels;

/// <summary>
/// A SwiGLU expert whose matrices are 4-bit blocks, run in managed code: y = (silu(x W1^T) * (x W3^T)) W2^T,
/// with W1 and W3 stacked by rows in one matrix as the exported graph has them. No ONNX Runtime session
/// exists for the expert.
/// </summary>
internal sealed class Int4SwiGluExpert : IManagedExpert
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

    /// <summary>Every step: the expert has no session.</summary>
    public int MaxRows => int.MaxValue;

    public int DModel => _w2.Rows;

    public int Hidden => _w2.Columns;

    public void Run(ReadOnlySpan<float> x, int rows, Span<float> y, ManagedExpertScratch scratch)
    {
        int h = Hidden;
        scratch.Activations.Fill(x, rows, DModel);
        var both = scratch.Both(rows * 2 * h);
        _w13.Multiply(scratch.Activations, both);
        var product = scratch.Product(rows * h);
        SwiGlu.Gate(both, rows, h, product);
        scratch.Activations.Fill(product, rows, h);
        _w2.Multiply(scratch.Activations, y);
    }
}
