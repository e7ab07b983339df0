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
        _w1 = nn.Linear(width, hidden, hasBias: false);
        _w2 = nn.Linear(hidden, width, hasBias: false);
        _w3 = nn.Linear(width, hidden, hasBias: false);
        register_module("w1", _w1);
        register_module("w2", _w2);
        register_module("w3", _w3);
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var hidden = nn.functional.silu(_w1.forward(input)) * _w3.forward(input);
        return _w2.forward(hidden).MoveToOuterDisposeScope();
    }
}
