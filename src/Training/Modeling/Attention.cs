using TorchSharp.Modules;

using static TorchSharp.torch;

namespace MoeServe.Training.Modeling;

/// <summary>Causal multi-head self-attention with RoPE; parameters wq, wk, wv, wo ([d, d], no bias).</summary>
internal sealed class Attention : nn.Module<Tensor, Tensor>
{
    private readonly Linear _wq;
    private readonly Linear _wk;
    private readonly Linear _wv;
    private readonly Linear _wo;
    private readonly RotaryEmbedding _rope;
    private readonly int _heads;

    public Attention(int width, int heads, RotaryEmbedding rope)
        : base(nameof(Attention))
    {
        _heads = heads;
        _rope = rope;
        _wq = Projection.Register(this, "wq", width, width);
        _wk = Projection.Register(this, "wk", width, width);
        _wv = Projection.Register(this, "wv", width, width);
        _wo = Projection.Register(this, "wo", width, width);
    }

    /// <summary>x [B, T, d] -> [B, T, d].</summary>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        long batch = input.shape[0], length = input.shape[1], width = input.shape[2];
        long headDim = width / _heads;
        var q = _rope.Apply(_wq.forward(input).view(batch, length, _heads, headDim).transpose(1, 2));
        var k = _rope.Apply(_wk.forward(input).view(batch, length, _heads, headDim).transpose(1, 2));
        var v = _wv.forward(input).view(batch, length, _heads, headDim).transpose(1, 2);
        var o = nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true);
        var merged = o.transpose(1, 2).contiguous().view(batch, length, width);
        return _wo.forward(merged).MoveToOuterDisposeScope();
    }
}
