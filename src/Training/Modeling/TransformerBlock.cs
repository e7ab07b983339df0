using MoeServe.Model;
using MoeServe.Training.Routing;

using static TorchSharp.torch;

namespace MoeServe.Training.Modeling;

/// <summary>x += Attention(RMSNorm(x)); x += MoE(RMSNorm(x)).</summary>
internal sealed class TransformerBlock : nn.Module
{
    private readonly RmsNorm _attentionNorm;
    private readonly Attention _attention;
    private readonly RmsNorm _ffnNorm;
    private readonly MoeFeedForward _moe;

    public TransformerBlock(ModelConfig config, RotaryEmbedding rope)
        : base(nameof(TransformerBlock))
    {
        _attentionNorm = new RmsNorm(config.DModel, config.NormEps);
        _attention = new Attention(config.DModel, config.Heads, rope);
        _ffnNorm = new RmsNorm(config.DModel, config.NormEps);
        _moe = new MoeFeedForward(config);
        register_module("attention_norm", _attentionNorm);
        register_module("attention", _attention);
        register_module("ffn_norm", _ffnNorm);
        register_module("moe", _moe);
    }

    public Tensor Forward(Tensor x, RoutingPass pass, int layer)
    {
        using var scope = NewDisposeScope();
        var h = x + _attention.forward(_attentionNorm.forward(x));
        var y = h + _moe.Forward(_ffnNorm.forward(h), pass, layer);
        return y.MoveToOuterDisposeScope();
    }
}
