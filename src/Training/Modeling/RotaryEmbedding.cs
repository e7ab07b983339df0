using static TorchSharp.torch;

namespace MoeServe.Training.Modeling;

/// <summary>
/// Rotary position embedding, rotate-half convention (docs/contracts.md): inv[i] = theta^(-2i/hd),
/// cos/sin tables of length hd built as concat(t, t), rope(x) = x*cos + rotate_half(x)*sin.
/// </summary>
internal sealed class RotaryEmbedding : IDisposable
{
    private readonly Tensor _cos;
    private readonly Tensor _sin;
    private readonly int _half;

    public RotaryEmbedding(int headDim, int maxPositions, double theta)
    {
        _half = headDim / 2;
        using var scope = NewDisposeScope();
        var inv = pow(theta, -arange(0, _half, dtype: ScalarType.Float64) * 2.0 / headDim);
        var angle = outer(arange(0, maxPositions, dtype: ScalarType.Float64), inv);
        var full = cat([angle, angle], 1);
        _cos = full.cos().to_type(ScalarType.Float32).MoveToOuterDisposeScope();
        _sin = full.sin().to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>Applies RoPE to x [B, H, T, hd] for positions 0..T-1.</summary>
    public Tensor Apply(Tensor x)
    {
        using var scope = NewDisposeScope();
        long length = x.shape[2];
        var cos = _cos.narrow(0, 0, length);
        var sin = _sin.narrow(0, 0, length);
        var rotated = cat([-x.narrow(-1, _half, _half), x.narrow(-1, 0, _half)], -1);
        return (x * cos + rotated * sin).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        _cos.Dispose();
        _sin.Dispose();
    }
}
