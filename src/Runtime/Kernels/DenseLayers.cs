using System.Numerics.Tensors;

namespace MoeServe.Runtime.Kernels;

/// <summary>
/// A layer's qkv graph in managed code: attention RMSNorm, one [d, qw + 2 kvw] projection, OLMoE's RMSNorm over the
/// whole query and key projections where the model has it, RoPE on the query and key heads at each token's position.
/// Not thread-safe: one step at a time.
/// </summary>
internal sealed class QkvLayer(float[] norm, float eps, IProjection projection, int heads, int kvHeads, RotaryEmbedding rope, float[]? queryNorm = null, float[]? keyNorm = null)
{
    private float[] _normed = [];
    private float[] _projected = [];

    /// <summary>query [rows, heads x hd], key and value [rows, kvHeads x hd] for hidden [rows, d].</summary>
    public void Run(ReadOnlySpan<float> hidden, ReadOnlySpan<long> positions, int rows, Span<float> query, Span<float> key, Span<float> value, IMatMulRunner runner)
    {
        int d = norm.Length;
        int hd = rope.HeadDim;
        int qw = heads * hd;
        int kvw = kvHeads * hd;
        int total = projection.Outputs;
        var normed = Scratch.Grow(ref _normed, rows * d);
        var projected = Scratch.Grow(ref _projected, rows * total);
        RmsNorm.Apply(hidden, rows, norm, eps, normed);
        runner.Multiply(_normed, rows, projection, _projected);
        for (int r = 0; r < rows; r++)
        {
            var row = projected.Slice(r * total, total);
            var q = query.Slice(r * qw, qw);
            var k = key.Slice(r * kvw, kvw);
            row[..qw].CopyTo(q);
            row.Slice(qw, kvw).CopyTo(k);
            row.Slice(qw + kvw, kvw).CopyTo(value.Slice(r * kvw, kvw));
            if (queryNorm is not null && keyNorm is not null)
            {
                RmsNorm.Apply(q, 1, queryNorm, eps, q);
                RmsNorm.Apply(k, 1, keyNorm, eps, k);
            }

            rope.Apply(q, heads, positions[r]);
            rope.Apply(k, kvHeads, positions[r]);
        }
    }
}

/// <summary>
/// A layer's post graph in managed code: residual = hidden + attention Wo, the FFN RMSNorm, and the router logits
/// (the gate stays float32, as export stores it). Not thread-safe: one step at a time.
/// </summary>
internal sealed class PostLayer
{
    private readonly IProjection _wo;
    private readonly float[] _norm;
    private readonly float _eps;
    private readonly float[] _gateRows;
    private readonly int _experts;
    private float[] _projected = [];

    /// <param name="wo">Wo: qw inputs, d outputs.</param>
    /// <param name="norm">The FFN norm's weight [d].</param>
    /// <param name="eps">The norm's epsilon.</param>
    /// <param name="gate">The router gate as the graph holds it, transposed: [d, experts].</param>
    /// <param name="experts">Experts (the gate's columns).</param>
    public PostLayer(IProjection wo, float[] norm, float eps, ReadOnlySpan<float> gate, int experts)
    {
        int d = norm.Length;
        if (wo.Outputs != d || gate.Length != d * experts)
        {
            throw new ArgumentException($"Wo [{wo.Inputs}, {wo.Outputs}] and a gate of {gate.Length} do not fit d {d} and {experts} experts.");
        }

        (_wo, _norm, _eps, _experts) = (wo, norm, eps, experts);

        // One contiguous row of d per expert, so each logit is one dot product.
        _gateRows = new float[d * experts];
        for (int i = 0; i < d; i++)
        {
            for (int j = 0; j < experts; j++)
            {
                _gateRows[(j * d) + i] = gate[(i * experts) + j];
            }
        }
    }

    /// <summary>residual and ffnInput [rows, d], routerLogits [rows, experts] for hidden [rows, d] and attention [rows, qw].</summary>
    public void Run(ReadOnlySpan<float> hidden, float[] attention, int rows, Span<float> residual, Span<float> ffnInput, Span<float> routerLogits, IMatMulRunner runner)
    {
        int d = _norm.Length;
        var projected = Scratch.Grow(ref _projected, rows * d);
        runner.Multiply(attention, rows, _wo, _projected);
        TensorPrimitives.Add(hidden[..(rows * d)], projected, residual[..(rows * d)]);
        RmsNorm.Apply(residual, rows, _norm, _eps, ffnInput);
        for (int r = 0; r < rows; r++)
        {
            var x = ffnInput.Slice(r * d, d);
            for (int j = 0; j < _experts; j++)
            {
                routerLogits[(r * _experts) + j] = TensorPrimitives.Dot(x, _gateRows.AsSpan(j * d, d));
            }
        }
    }
}

/// <summary>The head graph in managed code: the final RMSNorm, then logits = normed W (d inputs, vocab outputs).</summary>
internal sealed class HeadLayer(float[] norm, float eps, IProjection output)
{
    private float[] _normed = [];

    /// <summary>logits [rows, vocab] for hidden [rows, d].</summary>
    public void Run(ReadOnlySpan<float> hidden, int rows, float[] logits, IMatMulRunner runner)
    {
        var normed = Scratch.Grow(ref _normed, rows * norm.Length);
        RmsNorm.Apply(hidden, rows, norm, eps, normed);
        runner.Multiply(_normed, rows, output, logits);
    }
}

/// <summary>Runs y = x W for the dense layers: on the calling thread, or split over workers.</summary>
internal interface IMatMulRunner
{
    void Multiply(float[] x, int rows, IProjection w, float[] y);
}

/// <summary>Every unit on the calling thread.</summary>
internal sealed class SerialMatMul : IMatMulRunner
{
    public static SerialMatMul Instance { get; } = new();

    public void Multiply(float[] x, int rows, IProjection w, float[] y)
    {
        w.Prepare(x, rows);
        w.Multiply(x, rows, y, 0, w.Units);
    }
}

/// <summary>Reusable buffers grown to the largest step.</summary>
internal static class Scratch
{
    public static Span<float> Grow(ref float[] buffer, int length)
    {
        if (buffer.Length < length)
        {
            buffer = new float[length];
        }

        return buffer.AsSpan(0, length);
    }
}
