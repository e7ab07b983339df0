using CsCheck;

namespace MoeServe.Router.Tests.Support;

internal enum ScoreKind
{
    Softmax,
    Uniform,
    Ties,
}

/// <summary>A random routing problem for property tests: sizes, a score matrix and a policy to build.</summary>
internal sealed record RoutingCase(int Tokens, int Experts, int TopK, ScoreKind Kind, int Seed, string Policy, BipOptions Bip, double? CapacityFactor, bool Renormalize)
{
    public RoutingShape Shape => new(Tokens, Experts, TopK);

    public float[] Scores()
    {
        return Kind switch
        {
            ScoreKind.Softmax => Workloads.Softmax(Tokens, Experts, Seed, expertSpread: 1.5),
            ScoreKind.Uniform => Workloads.Uniform(Tokens, Experts, Seed),
            _ => Quantized(),
        };
    }

    public float[] RandomQ()
    {
        var rng = new Random(Seed + 7);
        var q = new float[Experts];
        for (int j = 0; j < q.Length; j++)
        {
            q[j] = (rng.NextSingle() - 0.5f) * 0.4f;
        }

        return q;
    }

    public IRoutingPolicy Build() => Policy switch
    {
        "topk" => new TopKPolicy(Renormalize, CapacityFactor),
        "biased" => new BiasedTopKPolicy(RandomQ(), Renormalize, CapacityFactor),
        "bip" => new BipBalancer(new float[Experts], Bip, Renormalize, CapacityFactor),
        _ => new LossFreeBalancer(new float[Experts], new LossFreeOptions { UpdateRate = 0.01f }, Renormalize, CapacityFactor),
    };

    // Many exact ties: scores from a handful of levels.
    private float[] Quantized()
    {
        var rng = new Random(Seed);
        var s = new float[Tokens * Experts];
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = rng.Next(4) * 0.25f;
        }

        return s;
    }

    public override string ToString() =>
        $"n={Tokens} m={Experts} k={TopK} {Kind} seed={Seed} {Policy} T={Bip.Iterations} clip={Bip.Clip} {Bip.Order} {Bip.Statistic} warm={Bip.WarmStart} cap={CapacityFactor} renorm={Renormalize}";

    public static readonly Gen<BipOptions> BipGen =
        from t in Gen.Int[1, 4]
        from clip in Gen.OneOf(BipClip.Both, BipClip.Tokens, BipClip.Experts, BipClip.None)
        from order in Gen.OneOf(BipOrder.UpdateThenRoute, BipOrder.RouteThenUpdate)
        from stat in Gen.OneOf(OrderStatisticMode.Exact, OrderStatisticMode.Quantile)
        from warm in Gen.Bool
        select new BipOptions { Iterations = t, Clip = clip, Order = order, Statistic = stat, WarmStart = warm };

    public static readonly Gen<RoutingCase> Any =
        from n in Gen.Int[1, 80]
        from m in Gen.OneOf(1, 2, 3, 5, 8, 16, 24, 64)
        from k in Gen.Int[1, m]
        from kind in Gen.OneOf(ScoreKind.Softmax, ScoreKind.Uniform, ScoreKind.Ties)
        from seed in Gen.Int[0, 1_000_000]
        from policy in Gen.OneOf("topk", "biased", "bip", "lossfree")
        from bip in BipGen
        from capacity in Gen.OneOf<double?>(null, null, 1.0, 1.25, 2.0)
        from renormalize in Gen.Bool
        select new RoutingCase(n, m, k, kind, seed, policy, bip, capacity, renormalize);
}
