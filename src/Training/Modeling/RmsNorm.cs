using TorchSharp.Modules;

using static TorchSharp.torch;

namespace MoeServe.Training.Modeling;

/// <summary>y = x / sqrt(mean(x^2) + eps) * w, over the last dimension (docs/contracts.md).</summary>
internal sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter _weight;
    private readonly double _eps;

    public RmsNorm(int width, double eps)
        : base(nameof(RmsNorm))
    {
        _eps = eps;
        _weight = nn.Parameter(ones(width));
        register_parameter("weight", _weight);
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var normed = input * rsqrt(input.square().mean([-1L], keepdim: true) + _eps);
        return (normed * _weight).MoveToOuterDisposeScope();
    }
}
