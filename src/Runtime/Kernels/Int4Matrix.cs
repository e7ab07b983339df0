using System.Runtime.InteropServices;

namespace MoeServe.Runtime.Kernels;

/// <summary>
/// A weight matrix W [Rows, Columns] of symmetric 4-bit blocks as <see cref="Int4MatMul"/> reads it: the codes and
/// float scales of a MatMulNBits node's initializers, held as parsed (no copy).
/// </summary>
internal sealed class Int4Matrix
{
    private readonly ReadOnlyMemory<byte> _codes;
    private readonly ReadOnlyMemory<byte> _scales;

    /// <param name="rows">N, the outputs.</param>
    /// <param name="columns">K, the inputs (a multiple of 32).</param>
    /// <param name="codes">[rows, columns / 32, 16] bytes.</param>
    /// <param name="scales">rows x columns / 32 floats, as bytes.</param>
    public Int4Matrix(int rows, int columns, ReadOnlyMemory<byte> codes, ReadOnlyMemory<byte> scales)
    {
        int blocks = columns / Int8Rows.BlockSize;
        if (rows <= 0 || columns <= 0 || columns % Int8Rows.BlockSize != 0 || codes.Length != rows * blocks * Int4MatMul.BlockBytes || scales.Length != rows * blocks * sizeof(float))
        {
            throw new ArgumentException($"4-bit codes ({codes.Length} bytes) and scales ({scales.Length} bytes) do not make a [{rows}, {columns}] matrix of blocks of {Int8Rows.BlockSize}.");
        }

        (Rows, Columns, _codes, _scales) = (rows, columns, codes, scales);
    }

    public int Rows { get; }

    public int Columns { get; }

    /// <summary>y [x.Rows, Rows] = x W^T, x already quantized over Columns.</summary>
    public void Multiply(Int8Rows x, Span<float> y) => Int4MatMul.Multiply(x, _codes.Span, MemoryMarshal.Cast<byte, float>(_scales.Span), Rows, y);
}
