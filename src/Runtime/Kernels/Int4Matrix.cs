using System.Runtime.InteropServices;

namespace MoeServe.Runtime.Kernels;

/// <summary>
/// A weight matrix W [Rows, Columns] of symmetric 4-bit blocks (a MatMulNBits node's codes and float scales, implicit
/// zero point 8), repacked once at load into the panels <see cref="Int4MatMul"/> reads: 8 output rows a panel, and
/// for each block of 32 along K, 128 bytes of codes then the 8 rows' scales. In a panel's block the codes come in
/// four 32-byte chunks; chunk q holds, for each of the 8 rows in turn, that row's source bytes 4q to 4q + 3
/// unchanged, so its low nibbles are the row's elements 8q, 8q + 2, 8q + 4, 8q + 6 and its high nibbles the odd
/// ones: the order <see cref="Int8Rows"/> stores activations in. Same bytes as the source (0.625 a weight with the
/// scales), one stream per panel; the source can be dropped after.
/// </summary>
internal sealed class Int4Matrix
{
    private readonly byte[] _panels;
    private readonly int _offset;

    /// <param name="rows">N, the outputs.</param>
    /// <param name="columns">K, the inputs (a multiple of 32).</param>
    /// <param name="codes">[rows, columns / 32, 16] bytes, element 2j of a block in the low nibble of byte j.</param>
    /// <param name="scales">rows x columns / 32 floats, as bytes.</param>
    public Int4Matrix(int rows, int columns, ReadOnlySpan<byte> codes, ReadOnlySpan<byte> scales)
    {
        int blocks = columns / Int8Rows.BlockSize;
        if (rows <= 0 || columns <= 0 || columns % Int8Rows.BlockSize != 0 || codes.Length != rows * blocks * Int4MatMul.BlockBytes || scales.Length != rows * blocks * sizeof(float))
        {
            throw new ArgumentException($"4-bit codes ({codes.Length} bytes) and scales ({scales.Length} bytes) do not make a [{rows}, {columns}] matrix of blocks of {Int8Rows.BlockSize}.");
        }

        (Rows, Columns, Panels) = (rows, columns, (rows + Int4MatMul.PanelRows - 1) / Int4MatMul.PanelRows);

        // Pinned and 64-byte aligned so that no 32-byte load of a panel straddles a cache line.
        long bytes = (long)Panels * blocks * Int4MatMul.PanelBlockBytes;
        _panels = GC.AllocateArray<byte>(checked((int)bytes + Alignment), pinned: true);
        _offset = (int)((Alignment - (Marshal.UnsafeAddrOfPinnedArrayElement(_panels, 0) % Alignment)) % Alignment);
        Repack(codes, MemoryMarshal.Cast<byte, float>(scales), rows, blocks, _panels.AsSpan(_offset, (int)bytes));
    }

    private const int Alignment = 64;

    public int Rows { get; }

    public int Columns { get; }

    /// <summary>Panels of 8 rows; the last may be partly padding (zero scales).</summary>
    public int Panels { get; }

    /// <summary>y [x.Rows, Rows] = x W^T, x already quantized over Columns.</summary>
    public void Multiply(Int8Rows x, Span<float> y, Int4Dot? dot = null) => Multiply(x, y, 0, Panels, dot);

    /// <summary>Output rows of panels [firstPanel, firstPanel + panels) only: how workers split one product.</summary>
    /// <remarks><paramref name="dot"/> defaults to the CPU's best (<see cref="Int4MatMul.BestDot"/>).</remarks>
    public void Multiply(Int8Rows x, Span<float> y, int firstPanel, int panels, Int4Dot? dot = null)
    {
        if (x.Blocks * Int8Rows.BlockSize != Columns)
        {
            throw new ArgumentException($"Activations of {x.Blocks * Int8Rows.BlockSize} columns against a matrix of {Columns}.", nameof(x));
        }

        if ((uint)firstPanel > (uint)Panels || (uint)panels > (uint)(Panels - firstPanel))
        {
            throw new ArgumentOutOfRangeException(nameof(panels), $"Panels [{firstPanel}, {firstPanel + panels}) of {Panels}.");
        }

        Int4MatMul.Multiply(x, _panels.AsSpan(_offset), Rows, y, firstPanel, panels, dot ?? Int4MatMul.BestDot);
    }

    private static void Repack(ReadOnlySpan<byte> codes, ReadOnlySpan<float> scales, int rows, int blocks, Span<byte> panels)
    {
        var source = MemoryMarshal.Cast<byte, uint>(codes);
        const int wordsPerBlock = Int4MatMul.BlockBytes / sizeof(uint);
        const int rowsPerPanel = Int4MatMul.PanelRows;
        for (int p = 0, panel = 0; p < rows; p += rowsPerPanel)
        {
            int width = Math.Min(rowsPerPanel, rows - p);
            for (int b = 0; b < blocks; b++, panel += Int4MatMul.PanelBlockBytes)
            {
                var words = MemoryMarshal.Cast<byte, uint>(panels.Slice(panel, Int4MatMul.PanelRows * Int4MatMul.BlockBytes));
                var panelScales = MemoryMarshal.Cast<byte, float>(panels.Slice(panel + words.Length * sizeof(uint), rowsPerPanel * sizeof(float)));
                for (int c = 0; c < width; c++)
                {
                    int from = (((p + c) * blocks) + b) * wordsPerBlock;
                    for (int q = 0; q < wordsPerBlock; q++)
                    {
                        words[(q * rowsPerPanel) + c] = source[from + q];
                    }

                    panelScales[c] = scales[((p + c) * blocks) + b];
                }
            }
        }
    }
}
