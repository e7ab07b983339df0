using TorchSharp.Modules;

using static TorchSharp.torch;

namespace MoeServe.Training.Modeling;

/// <summary>The model's bias-free linear layers (attention, experts, router gate).</summary>
internal static class Projection
{
    /// <summary>
    /// A bias-free linear layer from <paramref name="inputs"/> to <paramref name="outputs"/> features (weight
    /// [outputs, inputs]), registered on <paramref name="owner"/> as <paramref name="name"/>, its checkpoint name.
    /// </summary>
    public static Linear Register(nn.Module owner, string name, long inputs, long outputs)
    {
        var linear = nn.Linear(inputs, outputs, hasBias: false);
        owner.register_module(name, linear);
        return linear;
    }
}
