using MoeServe.Model;
using MoeServe.Training.Routing;

using TorchSharp.Modules;

using static TorchSharp.torch;

namespace MoeServe.Training.Modeling;

/// <summary>
/// The MiniMind-style MoE decoder of docs/contracts.md: token embedding with tied output head,
/// RMSNorm, RoPE attention and an MoE feed-forward block in every layer. Parameter names are the
/// checkpoint's tensor names (tok_embeddings.weight, layers.l.moe.experts.j.w1.weight, ...).
/// </summary>
public sealed class MoeTransformer : nn.Module
{
    private readonly Embedding _embeddings;
    private readonly ModuleList<TransformerBlock> _layers;
    private readonly RmsNorm _norm;
    private readonly RotaryEmbedding _rope;

    /// <summary>Builds the model with freshly initialised weights (uses torch's global RNG).</summary>
    /// <param name="config">The architecture; validated here.</param>
    public MoeTransformer(ModelConfig config)
        : base(nameof(MoeTransformer))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.EnsureValid();
        if (config.KeyValueHeads != config.Heads || config.HeadDim * config.Heads != config.DModel || config.QkNorm != QkNormKind.None || config.QkvBias || config.SharedExpertGate || config.UntiedHead)
        {
            throw new NotSupportedException("Training builds MoeServe's own architecture only; kvHeads, headDim, qkNorm, qkvBias, sharedExpertGate and untiedHead describe imported models (docs/importing.md).");
        }

        Config = config;
        _rope = new RotaryEmbedding(config.HeadDim, config.ContextLength, config.RopeTheta);
        _embeddings = nn.Embedding(config.VocabSize, config.DModel);
        _layers = new ModuleList<TransformerBlock>();
        for (int l = 0; l < config.Layers; l++)
        {
            _layers.Add(new TransformerBlock(config, _rope));
        }

        _norm = new RmsNorm(config.DModel, config.NormEps);
        register_module("tok_embeddings", _embeddings);
        register_module("layers", _layers);
        register_module("norm", _norm);

        // N(0, 1) embeddings would make the tied head's logits huge at start; GPT-style 0.02 instead.
        using (no_grad())
        {
            nn.init.normal_(_embeddings.weight!, 0.0, 0.02);
        }
    }

    /// <summary>The architecture.</summary>
    public ModelConfig Config { get; }

    /// <summary>tokens [B, T] (int64) -> logits [B, T, V].</summary>
    /// <param name="tokens">Token ids.</param>
    /// <param name="pass">Routing policies and statistics of this pass.</param>
    public Tensor Forward(Tensor tokens, RoutingPass pass)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(pass);
        if (tokens.shape[1] > Config.ContextLength)
        {
            throw new ArgumentException($"Sequence length {tokens.shape[1]} exceeds contextLength {Config.ContextLength}.", nameof(tokens));
        }

        using var scope = NewDisposeScope();
        var x = _embeddings.forward(tokens);
        for (int l = 0; l < _layers.Count; l++)
        {
            x = _layers[l].Forward(x, pass, l);
        }

        var logits = matmul(_norm.forward(x), _embeddings.weight!.t());
        return logits.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _rope.Dispose();
        }

        base.Dispose(disposing);
    }
}
