namespace MoeServe.Model.Quantization;

/// <summary>
/// Round-to-nearest blockwise quantization of a Linear weight into <see cref="BlockQuantizedMatrix"/>
/// (MatMulNBits' layout), and its inverse. Every element is within scale / 2 of its dequantized value.
/// </summary>
public static class BlockwiseQuantizer
{
    /// <summary>Quantizes W [n, k] (row-major, a Linear weight [out, in]).</summary>
    /// <param name="weights">n * k values, row by row.</param>
    /// <param name="n">Rows (outputs).</param>
    /// <param name="k">Columns (inputs, the axis the blocks run along).</param>
    /// <param name="bits">4 or 8.</param>
    /// <param name="blockSize">Elements per block: a power of two, at least 16.</param>
    /// <param name="zeroPoints">
    /// True: each block spans [min(min, 0), max(max, 0)] with its own zero point (all 2^bits codes used).
    /// False: symmetric, code = round(w / scale) + 2^(bits-1) with scale = max|w| / (2^(bits-1) - 1).
    /// </param>
    public static BlockQuantizedMatrix Quantize(ReadOnlySpan<float> weights, int n, int k, int bits, int blockSize, bool zeroPoints)
    {
        Check(n, k, bits, blockSize);
        if (weights.Length != n * k)
        {
            throw new ArgumentException($"Expected {n} x {k} = {n * k} weights, got {weights.Length}.", nameof(weights));
        }

        int blocks = (k + blockSize - 1) / blockSize;
        int blob = blockSize * bits / 8;
        int zpRow = ((blocks * bits) + 7) / 8;
        int maxCode = (1 << bits) - 1;
        int middle = 1 << (bits - 1);
        var data = new byte[(long)n * blocks * blob];
        var scales = new float[n * blocks];
        byte[]? zps = zeroPoints ? new byte[n * zpRow] : null;
        Span<int> codes = blockSize <= 256 ? stackalloc int[blockSize] : new int[blockSize];

        for (int row = 0; row < n; row++)
        {
            var rowValues = weights.Slice(row * k, k);
            for (int b = 0; b < blocks; b++)
            {
                int start = b * blockSize;
                var block = rowValues.Slice(start, Math.Min(blockSize, k - start));
                float scale;
                int zeroPoint;
                if (zeroPoints)
                {
                    // The range includes 0 so that 0 is exact (zero padding, and the rounding of small weights).
                    float min = Math.Min(0f, System.Numerics.Tensors.TensorPrimitives.Min(block));
                    float max = Math.Max(0f, System.Numerics.Tensors.TensorPrimitives.Max(block));
                    scale = (max - min) / maxCode;
                    zeroPoint = scale == 0f ? middle : Math.Clamp((int)MathF.Round(-min / scale), 0, maxCode);
                }
                else
                {
                    scale = System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(block);
                    scale = Math.Abs(scale) / (middle - 1);
                    zeroPoint = middle;
                }

                float inverse = scale == 0f ? 0f : 1f / scale;
                codes.Fill(zeroPoint); // the padded tail of the last block dequantizes to 0
                for (int i = 0; i < block.Length; i++)
                {
                    codes[i] = Math.Clamp((int)MathF.Round(block[i] * inverse) + zeroPoint, 0, maxCode);
                }

                scales[(row * blocks) + b] = scale;
                Pack(codes, bits, data.AsSpan((int)(((long)row * blocks * blob) + ((long)b * blob)), blob));
                if (zps is not null)
                {
                    SetCode(zps.AsSpan(row * zpRow, zpRow), b, zeroPoint, bits);
                }
            }
        }

        return new BlockQuantizedMatrix(n, k, bits, blockSize, data, scales, zps);
    }

    /// <summary>The float matrix [N, K] the quantized one stands for: (code - zeroPoint) * scale per element.</summary>
    /// <param name="matrix">A quantized matrix.</param>
    public static float[] Dequantize(BlockQuantizedMatrix matrix)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        int blocks = matrix.BlocksPerRow;
        int blob = matrix.BlobSize;
        int zpRow = matrix.ZeroPointBytesPerRow;
        int middle = 1 << (matrix.Bits - 1);
        var result = new float[matrix.N * matrix.K];
        for (int row = 0; row < matrix.N; row++)
        {
            for (int b = 0; b < blocks; b++)
            {
                float scale = matrix.Scales[(row * blocks) + b];
                int zeroPoint = matrix.ZeroPoints is null ? middle : GetCode(matrix.ZeroPoints.AsSpan(row * zpRow, zpRow), b, matrix.Bits);
                var codes = matrix.Data.AsSpan(((row * blocks) + b) * blob, blob);
                int start = b * matrix.BlockSize;
                int count = Math.Min(matrix.BlockSize, matrix.K - start);
                for (int i = 0; i < count; i++)
                {
                    result[(row * matrix.K) + start + i] = (GetCode(codes, i, matrix.Bits) - zeroPoint) * scale;
                }
            }
        }

        return result;
    }

    private static void Pack(ReadOnlySpan<int> codes, int bits, Span<byte> destination)
    {
        if (bits == 8)
        {
            for (int i = 0; i < codes.Length; i++)
            {
                destination[i] = (byte)codes[i];
            }

            return;
        }

        // 4 bits: element 2i in the low nibble, 2i + 1 in the high nibble.
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = (byte)(codes[2 * i] | (codes[(2 * i) + 1] << 4));
        }
    }

    private static void SetCode(Span<byte> packed, int index, int code, int bits)
    {
        if (bits == 8)
        {
            packed[index] = (byte)code;
            return;
        }

        int shift = (index & 1) * 4;
        packed[index / 2] = (byte)((packed[index / 2] & ~(0xF << shift)) | (code << shift));
    }

    private static int GetCode(ReadOnlySpan<byte> packed, int index, int bits) =>
        bits == 8 ? packed[index] : (packed[index / 2] >> ((index & 1) * 4)) & 0xF;

    private static void Check(int n, int k, int bits, int blockSize)
    {
        if (n <= 0 || k <= 0)
        {
            throw new ArgumentException($"The matrix must have rows and columns, got {n} x {k}.");
        }

        if (bits is not (4 or 8))
        {
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "Bits must be 4 or 8.");
        }

        if (blockSize < 16 || (blockSize & (blockSize - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "The block size must be a power of two, at least 16.");
        }
    }
}
