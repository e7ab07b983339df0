using System.Runtime.InteropServices;

namespace MoeServe.Runtime.Kernels;

/// <summary>
/// A weight matrix W [Rows, Columns] of float16 numbers as <see cref="HalfMatMul"/> reads it: rows are the MatMul's K
/// (inputs), columns its N (outputs). Repacked at load from the graph's row-major initializer into strips of
/// <see cref="HalfMatMul.Strip"/> columns, each strip's K rows contiguous (the last strip padded with zeros), so
/// the kernel reads the matrix as one sequential stream: over the row-major layout, a strip's rows are a
/// row-width apart and decode ran at a third of the memory speed on prefetch misses.
/// </summary>
internal sealed class HalfMatrix : IProjection
{
    /// <param name="rows">K, the inputs.</param>
    /// <param name="columns">N, the outputs.</param>
    /// <param name="rowMajor">rows x columns float16 numbers, row-major, as bytes.</param>
    public HalfMatrix(int rows, int columns, ReadOnlySpan<byte> rowMajor)
    {
        if (rows <= 0 || columns <= 0 || rowMajor.Length != (long)rows * columns * sizeof(short))
        {
            throw new ArgumentException($"{rowMajor.Length} bytes of float16 do not make a [{rows}, {columns}] matrix.");
        }

        (Rows, Columns) = (rows, columns);
        const int strip = HalfMatMul.Strip;
        Strips = (columns + strip - 1) / strip;
        var source = MemoryMarshal.Cast<byte, short>(rowMajor);
        Packed = new short[(long)Strips * rows * strip];
        for (int s = 0; s < Strips; s++)
        {
            int width = Math.Min(strip, columns - (s * strip));
            for (int i = 0; i < rows; i++)
            {
                source.Slice((i * columns) + (s * strip), width).CopyTo(Packed.AsSpan((int)((((long)s * rows) + i) * strip), width));
            }
        }
    }

    public int Rows { get; }

    public int Columns { get; }

    /// <summary>Strips of <see cref="HalfMatMul.Strip"/> columns (the last one padded).</summary>
    public int Strips { get; }

    /// <summary>[Strips, Rows, Strip] float16 bit patterns.</summary>
    public short[] Packed { get; }

    public int Inputs => Rows;

    public int Outputs => Columns;

    public int Units => Strips;

    /// <summary>y [rows, Columns] = x [rows, Rows] W.</summary>
    public void Multiply(ReadOnlySpan<float> x, int rows, Span<float> y) => HalfMatMul.Multiply(x, rows, this, y);

    /// <summary>Nothing to ready: the kernel reads x as it is.</summary>
    public void Prepare(ReadOnlySpan<float> x, int rows)
    {
    }

    public void Multiply(ReadOnlySpan<float> x, int rows, Span<float> y, int firstUnit, int units) => HalfMatMul.Multiply(x, rows, this, y, firstUnit, units);
}
