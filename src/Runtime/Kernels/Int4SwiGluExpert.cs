using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace MoeServe.Runtime.Kernels;

/// <summary>
/// A SwiGLU expert whose matrices are 4-bit blocks, run in managed code: y = (silu(x W1^T) * (x W3^T)) W2^T,
/// with W1 and W3 stacked by rows in one matrix as the exported graph has them. The codes and scales are the
/// exported graph's own initializer bytes, held once; no ONNX Runtime session exists for the expert.
/// </summary>
internal sealed class Int4SwiGluExpert
{
    private readonly ReadOnlyMemory<byte> _w13Codes;
    private readonly ReadOnlyMemory<byte> _w13Scales;
    private readonly ReadOnlyMemory<byte> _w2Codes;
    private readonly ReadOnlyMemory<byte> _w2Scales;

    /// <param name="dModel">Width of x and y (a multiple of 32).</param>
    /// <param name="hidden">The expert's hidden width (a multiple of 32).</param>
    /// <param name="w13Codes">[2 hidden, dModel / 32, 16] codes of W1 then W3.</param>
    /// <param name="w13Scales">2 hidden x dModel / 32 float scales, as bytes.</param>
    /// <param name="w2Codes">[dModel, hidden / 32, 16] codes of W2.</param>
    /// <param name="w2Scales">dModel x hidden / 32 float scales, as bytes.</param>
    public Int4SwiGluExpert(int dModel, int hidden, ReadOnlyMemory<byte> w13Codes, ReadOnlyMemory<byte> w13Scales, ReadOnlyMemory<byte> w2Codes, ReadOnlyMemory<byte> w2Scales)
    {
        Require(dModel % Int8Rows.BlockSize == 0 && hidden % Int8Rows.BlockSize == 0, "dModel and hidden must be multiples of 32");
        Require(w13Codes.Length == 2 * hidden * dModel / 2 && w13Scales.Length == 2 * hidden * (dModel / Int8Rows.BlockSize) * sizeof(float), "W1/W3 codes or scales do not match [2 hidden, dModel]");
        Require(w2Codes.Length == dModel * hidden / 2 && w2Scales.Length == dModel * (hidden / Int8Rows.BlockSize) * sizeof(float), "W2 codes or scales do not match [dModel, hidden]");
        DModel = dModel;
        Hidden = hidden;
        _w13Codes = w13Codes;
        _w13Scales = w13Scales;
        _w2Codes = w2Codes;
        _w2Scales = w2Scales;
    }

    public int DModel { get; }

    public int Hidden { get; }

    /// <summary>Bytes of codes and scales held.</summary>
    public long WeightBytes => (long)_w13Codes.Length + _w13Scales.Length + _w2Codes.Length + _w2Scales.Length;

    /// <summary>y [rows, DModel] for x [rows, DModel], with <paramref name="scratch"/> the calling worker's.</summary>
    public void Run(ReadOnlySpan<float> x, int rows, Span<float> y, Int4ExpertScratch scratch)
    {
        int h = Hidden;
        scratch.Activations.Fill(x, rows, DModel);
        var both = scratch.Both(rows * 2 * h);
        Int4MatMul.Multiply(scratch.Activations, _w13Codes.Span, MemoryMarshal.Cast<byte, float>(_w13Scales.Span), 2 * h, both);
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
        Int4MatMul.Multiply(scratch.Activations, _w2Codes.Span, MemoryMarshal.Cast<byte, float>(_w2Scales.Span), DModel, y);
    }

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new ArgumentException(message + ".");
        }
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
