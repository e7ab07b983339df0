namespace MoeServe.Runtime.Kernels;

/// <summary>
/// A SwiGLU expert of float16 weights run in managed code, y = (silu(x W1^T) * (x W3^T)) W2^T, from the transposed
/// matrices the exported graph holds ([dModel, 2 hidden] with W1's columns then W3's, and [hidden, dModel]).
/// The loader gives it the few-row steps of decode, where a Run's fixed cost and the float32 copy ONNX Runtime folds
/// the weights into cost more than the arithmetic; larger steps keep the expert's session.
/// </summary>
internal sealed class HalfSwiGluExpert : IManagedExpert
{
    /// <summary>The most rows a step gives this kernel rather than the session (measured crossover: docs/runtime.md).</summary>
    public int MaxRows => 8;

    private readonly HalfMatrix _w13;
    private readonly HalfMatrix _w2;

    /// <param name="w13">[W1; W3]^T: [dModel, 2 hidden].</param>
    /// <param name="w2">W2^T: [hidden, dModel].</param>
    public HalfSwiGluExpert(HalfMatrix w13, HalfMatrix w2)
    {
        if (w13.Rows != w2.Columns || w13.Columns != 2 * w2.Rows)
        {
            throw new ArgumentException($"[W1; W3]^T [{w13.Rows}, {w13.Columns}] and W2^T [{w2.Rows}, {w2.Columns}] are not one SwiGLU expert.");
        }

        (_w13, _w2) = (w13, w2);
    }

    public int DModel => _w2.Columns;

    public int Hidden => _w2.Rows;

    public void Run(ReadOnlySpan<float> x, int rows, Span<float> y, ManagedExpertScratch scratch)
    {
        int h = Hidden;
        var both = scratch.Both(rows * 2 * h);
        _w13.Multiply(x, rows, both);
        var product = scratch.Product(rows * h);
        SwiGlu.Gate(both, rows, h, product);
        _w2.Multiply(product, rows, y);
    }
}
