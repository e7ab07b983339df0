using MoeServe.Runtime.Experts;
using MoeServe.Runtime.Sessions;

namespace MoeServe.Runtime;

/// <summary>
/// Every session of one loaded model, by role: embedding, head, per layer the qkv and post graphs,
/// the shared expert and the routed experts. The single owner of all of them: disposing this
/// disposes each session (and each expert's CPU fallback) exactly once.
/// </summary>
internal sealed class ModelGraphs : IDisposable
{
    private readonly IReadOnlyList<IDisposable> _owned;

    public ModelGraphs(GraphSession embed, GraphSession? head, GraphSession?[] qkv, GraphSession?[] post, GraphSession?[] shared, ExpertExecutor[][] experts, IReadOnlyList<IDisposable> owned)
    {
        Embed = embed;
        Head = head;
        Qkv = qkv;
        Post = post;
        Shared = shared;
        Experts = experts;
        _owned = owned;
    }

    public GraphSession Embed { get; }

    /// <summary>The head, or null where <see cref="FewRows"/> runs it on every step (its session was released at load).</summary>
    public GraphSession? Head { get; }

    /// <summary>Per layer: hidden and positions to query, key and value (RoPE applied); null as <see cref="Head"/>.</summary>
    public GraphSession?[] Qkv { get; }

    /// <summary>Per layer: hidden and attention to residual, FFN input and router logits; null as <see cref="Head"/>.</summary>
    public GraphSession?[] Post { get; }

    /// <summary>Per layer: the shared expert, or null when the layer has none.</summary>
    public GraphSession?[] Shared { get; }

    /// <summary>The dense graphs in managed code for steps of few tokens, or null.</summary>
    public FewRowDense? FewRows { get; init; }

    /// <summary>Per layer and expert: the routed expert behind its device's breaker.</summary>
    public ExpertExecutor[][] Experts { get; }

    public void Dispose()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }
    }
}
