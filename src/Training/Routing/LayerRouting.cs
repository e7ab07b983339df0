using MoeServe.Router;

namespace MoeServe.Training.Routing;

/// <summary>
/// The routing of every MoE layer for one run, built on the router library so that training and
/// serving route with the same code: training steps use the method's (stateful) policy per layer;
/// evaluation applies the balancing state frozen, TopK(s - q), exactly as the server does by default.
/// The state (q per layer; loss-free's b stored as q = -b) is the router library's
/// <see cref="BalancingState"/>, saved as balancing.json.
/// </summary>
public sealed class LayerRouting
{
    private readonly IRoutingPolicy[] _training;
    private readonly bool _renormalize;

    private LayerRouting(BalanceMethod method, BalancingState state, IRoutingPolicy[] training, bool renormalize)
    {
        Method = method;
        State = state;
        _training = training;
        _renormalize = renormalize;
        Average = method is BalanceMethod.Bip or BalanceMethod.LossFree ? new QAverage(state) : null;
    }

    /// <summary>The balancing method.</summary>
    public BalanceMethod Method { get; }

    /// <summary>The live balancing state (BIP and loss-free policies update it in place).</summary>
    public BalancingState State { get; }

    /// <summary>The running average of <see cref="State"/> over steps (methods with a state), or null.</summary>
    public QAverage? Average { get; }

    /// <summary>Builds the per-layer policies.</summary>
    /// <param name="method">The balancing method.</param>
    /// <param name="layers">MoE layers.</param>
    /// <param name="experts">Experts per layer.</param>
    /// <param name="renormalize">Whether gates are renormalised over the chosen k.</param>
    /// <param name="bip">BIP options (used when <paramref name="method"/> is BIP).</param>
    /// <param name="lossFree">Loss-free options (used when <paramref name="method"/> is loss-free).</param>
    /// <param name="state">A state to continue from (resume), or null for q = 0.</param>
    public static LayerRouting Create(BalanceMethod method, int layers, int experts, bool renormalize, BipOptions bip, LossFreeOptions lossFree, BalancingState? state = null)
    {
        ArgumentNullException.ThrowIfNull(bip);
        ArgumentNullException.ThrowIfNull(lossFree);
        state ??= new BalancingState(method.ToName(), layers, experts);
        if (state.LayerCount != layers || state.Experts != experts)
        {
            throw new InvalidDataException($"Balancing state has {state.LayerCount} layers x {state.Experts} experts; the model has {layers} x {experts}.");
        }

        var options = new RouterOptions
        {
            Method = method switch
            {
                BalanceMethod.Bip => RoutingMethod.Bip,
                BalanceMethod.LossFree => RoutingMethod.LossFree,
                _ => RoutingMethod.TopK,
            },
            Renormalize = renormalize,
            Bip = bip,
            LossFree = lossFree,
        };
        var training = new IRoutingPolicy[layers];
        for (int l = 0; l < layers; l++)
        {
            training[l] = RoutingPolicyFactory.Create(options, state, l);
        }

        return new LayerRouting(method, state, training, renormalize);
    }

    /// <summary>The policy a training step uses in <paramref name="layer"/> (may update the state).</summary>
    /// <param name="layer">The layer.</param>
    public IRoutingPolicy Training(int layer) => _training[layer];

    /// <summary>
    /// Policies for evaluation: the averaged state applied frozen (biased top-K; the q export serves),
    /// or plain top-K for methods without state. Never updates any state.
    /// </summary>
    public IRoutingPolicy[] FrozenPolicies()
    {
        var policies = new IRoutingPolicy[_training.Length];
        for (int l = 0; l < policies.Length; l++)
        {
            policies[l] = Method is BalanceMethod.Bip or BalanceMethod.LossFree
                ? new BiasedTopKPolicy(Average!.State.Layer(l), _renormalize)
                : new TopKPolicy(_renormalize);
        }

        return policies;
    }
}
