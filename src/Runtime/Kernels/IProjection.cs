namespace MoeServe.Runtime.Kernels;

/// <summary>
/// The weights of one dense projection y = x W run by a managed kernel: float16 strips (<see cref="HalfMatrix"/>) or
/// 4-bit panels (<see cref="Int4Projection"/>). Workers split one product by units of output columns.
/// </summary>
internal interface IProjection
{
    /// <summary>K: values per input row.</summary>
    int Inputs { get; }

    /// <summary>N: values per output row.</summary>
    int Outputs { get; }

    /// <summary>Groups of output columns, the grain workers split a product by.</summary>
    int Units { get; }

    /// <summary>Readies x for <see cref="Multiply"/> (the int4 kernel quantizes it); on one thread, once a product.</summary>
    void Prepare(ReadOnlySpan<float> x, int rows);

    /// <summary>The output columns of units [firstUnit, firstUnit + units) of y [rows, Outputs], after <see cref="Prepare"/>.</summary>
    void Multiply(ReadOnlySpan<float> x, int rows, Span<float> y, int firstUnit, int units);
}
