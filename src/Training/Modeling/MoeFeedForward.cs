using MoeServe.Model;
using MoeServe.Router;
using MoeServe.Training.Routing;

using TorchSharp.Modules;

using static TorchSharp.torch;

namespace MoeServe.Training.Modeling;

/// <summary>
/// The MoE feed-forward block: router logits (gate), scores (softmax or sigmoid), expert selection by
/// the router library on a CPU copy of the scores, gates taken in torch from the unbiased scores at
/// the chosen indices (so gradients reach the router), SwiGLU experts, optional shared expert, and the
/// optional sequence-level auxiliary loss.
/// </summary>
internal sealed class MoeFeedForward : nn.Module
{
    private readonly Linear _gate;
    private readonly ModuleList<SwiGluExpert> _experts;
    private readonly SwiGluExpert? _shared;
    private readonly ModelConfig _config;

    // Scratch reused across passes: one owner, resized only when the batch grows.
    private float[] _scores = [];
    private int[] _chosen = [];
    private float[] _routerGates = [];
    private long[] _chosenLong = [];
    private long[] _tokenOfSlot = [];
    private long[] _slotOrder = [];
    private readonly int[] _counts;

    public MoeFeedForward(ModelConfig config)
        : base(nameof(MoeFeedForward))
    {
        _config = config;
        _counts = new int[config.Experts];
        _gate = Projection.Register(this, "gate", config.DModel, config.Experts);
        _experts = new ModuleList<SwiGluExpert>();
        for (int j = 0; j < config.Experts; j++)
        {
            _experts.Add(new SwiGluExpert(config.DModel, config.ExpertHidden));
        }

        register_module("experts", _experts);
        if (config.HasSharedExpert)
        {
            _shared = new SwiGluExpert(config.DModel, config.SharedExpertHidden);
            register_module("shared_expert", _shared);
        }
    }

    /// <summary>f [B, T, d] -> y [B, T, d].</summary>
    public Tensor Forward(Tensor input, RoutingPass pass, int layer)
    {
        using var scope = NewDisposeScope();
        long batch = input.shape[0], length = input.shape[1], width = input.shape[2];
        int tokens = checked((int)(batch * length));
        int m = _config.Experts, k = _config.TopK;
        var flat = input.reshape(tokens, width);
        var logits = _gate.forward(flat);
        var scores = _config.ScoreFunction == MoeServe.Router.ScoreFunction.Sigmoid ? logits.sigmoid() : logits.softmax(-1);

        // Route on a CPU copy: n x m is small, and the router library works on spans.
        var shape = new RoutingShape(tokens, m, k);
        EnsureScratch(shape);
        using (var detached = scores.detach().contiguous())
        {
            detached.data<float>().CopyTo(_scores, 0, 0);
        }

        pass.Route(layer, pass.PolicyFor(layer), _scores.AsSpan(0, shape.ScoreLength), shape, _chosen.AsSpan(0, shape.AssignmentLength), _routerGates.AsSpan(0, shape.AssignmentLength));

        // Counting sort of the (token, slot) assignments by expert: one gather, contiguous segments.
        Array.Clear(_counts);
        int assignments = shape.AssignmentLength;
        for (int a = 0; a < assignments; a++)
        {
            _counts[_chosen[a]]++;
            _chosenLong[a] = _chosen[a];
        }

        Span<int> cursor = stackalloc int[m];
        for (int j = 1; j < m; j++)
        {
            cursor[j] = cursor[j - 1] + _counts[j - 1];
        }

        for (int a = 0; a < assignments; a++)
        {
            int at = cursor[_chosen[a]]++;
            _tokenOfSlot[at] = a / k;
            _slotOrder[at] = a;
        }

        var chosen = tensor(_chosenLong.AsSpan(0, assignments).ToArray(), [tokens, k]);
        var gates = scores.gather(1, chosen);
        if (_config.Renormalize)
        {
            gates = gates / gates.sum(1, keepdim: true);
        }

        var tokenOfSlot = tensor(_tokenOfSlot.AsSpan(0, assignments).ToArray());
        var slotOrder = tensor(_slotOrder.AsSpan(0, assignments).ToArray());
        var dispatched = flat.index_select(0, tokenOfSlot);
        var slotGates = gates.reshape(-1).index_select(0, slotOrder).unsqueeze(1);
        var outputs = new List<Tensor>(m);
        long offset = 0;
        for (int j = 0; j < m; j++)
        {
            if (_counts[j] == 0)
            {
                continue;
            }

            outputs.Add(_experts[j].forward(dispatched.narrow(0, offset, _counts[j])));
            offset += _counts[j];
        }

        var expertOut = cat(outputs, 0) * slotGates;
        var combined = zeros_like(flat).index_add(0, tokenOfSlot, expertOut, 1.0);
        if (_shared is not null)
        {
            combined = combined + _shared.forward(flat);
        }

        if (pass.AuxAlpha > 0)
        {
            pass.AddAuxiliaryTerm(AuxiliaryLoss(scores, (int)batch, (int)length, pass.AuxAlpha).DetachFromDisposeScope());
        }

        return combined.view(batch, length, width).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Loss-Controlled balancing (MiniMind's sequence-level form): alpha * mean over sequences of
    /// sum_j f_j P_j, f_j = m/(k L) * tokens of the sequence routed to j (a constant), P_j = mean
    /// score of j over the sequence (carries the gradient to the router).
    /// </summary>
    private Tensor AuxiliaryLoss(Tensor scores, int batch, int length, double alpha)
    {
        int m = _config.Experts, k = _config.TopK;
        var f = new float[batch * m];
        float scale = (float)m / (k * length);
        for (int a = 0; a < batch * length * k; a++)
        {
            int sequence = a / k / length;
            f[(sequence * m) + _chosen[a]] += scale;
        }

        using var fraction = tensor(f, [batch, m]);
        using var meanScore = scores.view(batch, length, m).mean([1L]);
        return (fraction * meanScore).sum(1).mean() * alpha;
    }

    private void EnsureScratch(RoutingShape shape)
    {
        if (_scores.Length < shape.ScoreLength)
        {
            _scores = new float[shape.ScoreLength];
        }

        if (_chosen.Length < shape.AssignmentLength)
        {
            _chosen = new int[shape.AssignmentLength];
            _routerGates = new float[shape.AssignmentLength];
            _chosenLong = new long[shape.AssignmentLength];
            _tokenOfSlot = new long[shape.AssignmentLength];
            _slotOrder = new long[shape.AssignmentLength];
        }
    }
}
