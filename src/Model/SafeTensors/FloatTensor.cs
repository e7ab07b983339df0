namespace MoeServe.Model;

/// <summary>A dense row-major float32 tensor: a shape and its elements.</summary>
public sealed class FloatTensor
{
    /// <summary>Wraps <paramref name="data"/> (not copied) with <paramref name="shape"/>.</summary>
    /// <param name="shape">Dimensions, outermost first; an empty shape is a scalar.</param>
    /// <param name="data">Elements in row-major order; length must equal the product of the shape.</param>
    public FloatTensor(int[] shape, float[] data)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        long count = ElementCountOf(shape);
        if (count != data.Length)
        {
            throw new ArgumentException($"Shape [{string.Join(", ", shape)}] holds {count} elements but {data.Length} were given.", nameof(data));
        }

        Shape = shape;
        Data = data;
    }

    /// <summary>Dimensions, outermost first.</summary>
    public int[] Shape { get; }

    /// <summary>Elements in row-major order.</summary>
    public float[] Data { get; }

    /// <summary>Number of elements.</summary>
    public int ElementCount => Data.Length;

    /// <summary>A zero-filled tensor of the given shape.</summary>
    /// <param name="shape">Dimensions, outermost first.</param>
    public static FloatTensor Zeros(params int[] shape) => new(shape, new float[checked((int)ElementCountOf(shape))]);

    /// <summary>Product of the dimensions; throws on a negative dimension.</summary>
    /// <param name="shape">Dimensions.</param>
    public static long ElementCountOf(IReadOnlyList<int> shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long count = 1;
        foreach (int dim in shape)
        {
            if (dim < 0)
            {
                throw new ArgumentException($"Negative dimension {dim} in shape [{string.Join(", ", shape)}].", nameof(shape));
            }

            count = checked(count * dim);
        }

        return count;
    }

    /// <summary>The transpose of a matrix [rows, cols] as a new [cols, rows] tensor: the graphs store weights
    /// transposed (x W^T as MatMul(x, W_t)), and the quantizer reads them back the same way.</summary>
    public FloatTensor Transposed()
    {
        if (Shape.Length != 2)
        {
            throw new InvalidOperationException($"Only a matrix can be transposed; the shape is {ShapeText}.");
        }

        int rows = Shape[0];
        int cols = Shape[1];
        float[] data = new float[ElementCount];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                data[(c * rows) + r] = Data[(r * cols) + c];
            }
        }

        return new FloatTensor([cols, rows], data);
    }

    /// <summary>The shape as text, e.g. "[4, 8]".</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
