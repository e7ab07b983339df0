using TorchSharp.Modules;

using static TorchSharp.torch;

namespace MoeServe.Training.Modeling;

/// <summary>y = (silu(x W1^T) * (x W3^T)) W2^T; parameters w1 [h, d], w3 [h, d], w2 [d, h].</summary>
internal sealed class SwiGluExpert : nn.Module<Tensor, Tensor>
{
    private readonly Linear _w1;
    private readonly Linear _w2;
    private readonly Linear _w3;

    public SwiGluExpert(int width, int hidden)
        : base(nameof(SwiGluExpert))
    {
        _w1 = Projection.Register(this, "w1", width, hidden);
        _w2 = Projection.Register(this, "w2", hidden, width);
        _w3 = Projection.Register(this, "w3", width, hidden);
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var hidden = nn.functional.silu(_w1.forward(input)) * _w3.forward(input);
        return _w2.forward(hidden).MoveToOuterDisposeScope();
    }
}
