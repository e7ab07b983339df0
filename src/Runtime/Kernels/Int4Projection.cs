namespace MoeServe.Runtime.Kernels;

/// <summary>
/// A dense projection over 4-bit weights: <see cref="Int4Matrix"/> (W^T [Outputs, Inputs], as MatMulNBits stores it)
/// with the activations it quantizes once a product. Not thread-safe across products: one step at a time.
/// </summary>
internal sealed class Int4Projection(Int4Matrix matrix) : IProjection
{
    private readonly Int8Rows _x = new();

    public int Inputs => matrix.Columns;

    public int Outputs => matrix.Rows;

    /// <summary>Panels of 8 output columns.</summary>
    public int Units => matrix.Panels;

    public void Prepare(ReadOnlySpan<float> x, int rows) => _x.Fill(x[..(rows * Inputs)], rows, Inputs);

    public void Multiply(ReadOnlySpan<float> x, int rows, Span<float> y, int firstUnit, int units)
    {
        if (_x.Rows != rows)
        {
            throw new InvalidOperationException($"Prepared for {_x.Rows} rows, asked for {rows}.");
        }

        matrix.Multiply(_x, y, firstUnit, units);
    }
}
