using MoeServe.Router;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>simulate</c>: routes synthetic batches (the paper's simulation view) through top-K, loss-free
/// or BIP routing and reports MaxVio, score retention and routing time; <c>--sweep</c> runs the whole
/// configuration grid of docs/balancing.md.
/// </summary>
internal static class SimulateCommand
{
    private static readonly string[] Workloads = ["uniform", "softmax"];
    private static readonly string[] Policies = ["topk", "bip", "lossfree"];
    private static readonly string[] Clips = ["both", "tokens", "experts", "none"];
    private static readonly string[] Orders = ["update-then-route", "route-then-update"];

    public static Command Create()
    {
        var defaults = new BipOptions();
        var workload = new Option<string[]>("--workload")
        {
            Description = "Score distribution: uniform (s = u + v) or softmax (s = softmax(z + b)). Several allowed.",
            DefaultValueFactory = _ => ["softmax"],
            AllowMultipleArgumentsPerToken = true,
        };
        workload.AcceptOnlyFromAmong(Workloads);
        var tokens = new Option<int>("--tokens") { Description = "Tokens per batch (n).", DefaultValueFactory = _ => 4096 };
        var experts = new Option<int>("--experts") { Description = "Experts (m).", DefaultValueFactory = _ => 64 };
        var topK = new Option<int>("--top-k") { Description = "Experts per token (k).", DefaultValueFactory = _ => 8 };
        var batches = new Option<int>("--batches") { Description = "Batches to route.", DefaultValueFactory = _ => 100 };
        var policy = new Option<string[]>("--policy")
        {
            Description = "Routing policy: topk, bip or lossfree. Several allowed (compared side by side, and in --plot).",
            DefaultValueFactory = _ => ["bip"],
            AllowMultipleArgumentsPerToken = true,
        };
        policy.AcceptOnlyFromAmong(Policies);
        var iterations = new Option<int>("--iterations") { Description = "BIP dual iterations per batch (T).", DefaultValueFactory = _ => defaults.Iterations };
        var clip = new Option<string>("--clip") { Description = "BIP: which duals are clipped at 0 (tokens = p, experts = q).", DefaultValueFactory = _ => SimulateNames.Clip(defaults.Clip) };
        clip.AcceptOnlyFromAmong(Clips);
        var order = new Option<string>("--order") { Description = "BIP: update q then route, or route then update q.", DefaultValueFactory = _ => SimulateNames.Order(defaults.Order) };
        order.AcceptOnlyFromAmong(Orders);
        var cold = new Option<bool>("--cold") { Description = "BIP: reset q to 0 at every batch (no warm start)." };
        var statistic = new Option<string>("--statistic") { Description = "BIP: exact order statistics ((k+1)-th / (c+1)-th largest) or interpolated quantiles at 1 - k/m.", DefaultValueFactory = _ => defaults.Statistic == OrderStatisticMode.Exact ? "exact" : "quantile" };
        statistic.AcceptOnlyFromAmong("exact", "quantile");
        var updateRate = new Option<float>("--update-rate") { Description = "Loss-free bias update rate u.", DefaultValueFactory = _ => LossFreeOptions.DefaultUpdateRate };
        var capacity = new Option<double?>("--capacity-factor") { Description = "Hard capacity: at most ceil(f n k / m) tokens per expert (f >= 1); overflow goes to the next-best expert." };
        var seed = new Option<int>("--seed") { Description = "Seed of the workload (the same for every policy).", DefaultValueFactory = _ => 1 };
        var json = CliOptions.Json("Print one JSON object per policy (an array when several) instead of a table.");
        var csv = new Option<string?>("--csv") { Description = "Write the per-batch MaxVio series to this CSV file." };
        var plot = new Option<string?>("--plot") { Description = "Write a PNG of MaxVio per batch for the policies given (with --sweep: one PNG per workload)." };
        var sweep = new Option<bool>("--sweep") { Description = "Run the full grid (topk, lossfree, bip over T = 1, 2, 4 x clip x order x warm/cold) and print a markdown table." };

        var command = new Command("simulate", "Route synthetic batches with top-K, loss-free or BIP balancing and report MaxVio, score retention and speed.")
        {
            workload, tokens, experts, topK, batches, policy, iterations, clip, order, cold, statistic, updateRate, capacity, seed, json, csv, plot, sweep,
        };
        command.SetAction(parse =>
        {
            var request = new SimulateRequest(
                Workloads: [.. (parse.GetValue(workload) ?? []).Distinct(StringComparer.Ordinal).Select(ParseWorkload)],
                Tokens: parse.GetValue(tokens),
                Experts: parse.GetValue(experts),
                TopK: parse.GetValue(topK),
                Batches: parse.GetValue(batches),
                Methods: [.. (parse.GetValue(policy) ?? []).Distinct(StringComparer.Ordinal).Select(ParseMethod)],
                Bip: new BipOptions
                {
                    Iterations = parse.GetValue(iterations),
                    Clip = ParseClip(parse.GetValue(clip)!),
                    Order = parse.GetValue(order) == "route-then-update" ? BipOrder.RouteThenUpdate : BipOrder.UpdateThenRoute,
                    WarmStart = !parse.GetValue(cold),
                    Statistic = parse.GetValue(statistic) == "exact" ? OrderStatisticMode.Exact : OrderStatisticMode.Quantile,
                },
                LossFree: new LossFreeOptions { UpdateRate = parse.GetValue(updateRate) },
                CapacityFactor: parse.GetValue(capacity),
                Seed: parse.GetValue(seed));
            return SimulateOutput.Execute(request, parse.GetValue(json), parse.GetValue(csv), parse.GetValue(plot), parse.GetValue(sweep));
        });
        return command;
    }

    private static SimulateWorkloadKind ParseWorkload(string name) => name == "uniform" ? SimulateWorkloadKind.Uniform : SimulateWorkloadKind.Softmax;

    // --policy accepts only the names in Policies, so an unknown one never gets here.
    private static RoutingMethod ParseMethod(string name) =>
        RoutingPolicyFactory.TryParseMethod(name, out RoutingMethod m) ? m : throw new ArgumentException(RoutingPolicyFactory.UnknownNameMessage(name, [RoutingMethod.TopK, RoutingMethod.Bip, RoutingMethod.LossFree]), nameof(name));

    private static BipClip ParseClip(string name) => name switch
    {
        "both" => BipClip.Both,
        "tokens" => BipClip.Tokens,
        "none" => BipClip.None,
        _ => BipClip.Experts,
    };
}

/// <summary>Everything the user asked <c>simulate</c> for, validated as a whole.</summary>
internal sealed record SimulateRequest(
    IReadOnlyList<SimulateWorkloadKind> Workloads,
    int Tokens,
    int Experts,
    int TopK,
    int Batches,
    IReadOnlyList<RoutingMethod> Methods,
    BipOptions Bip,
    LossFreeOptions LossFree,
    double? CapacityFactor,
    int Seed)
{
    /// <summary>Every problem, each naming its flag.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Tokens < 1)
        {
            errors.Add($"--tokens must be >= 1 (got {Tokens}).");
        }

        if (Experts < 1)
        {
            errors.Add($"--experts must be >= 1 (got {Experts}).");
        }

        if (TopK < 1 || TopK > Experts)
        {
            errors.Add($"--top-k must be in 1..--experts ({Experts}) (got {TopK}).");
        }

        if ((long)Tokens * Experts > 64L * 1024 * 1024)
        {
            errors.Add($"--tokens x --experts must be at most {64 * 1024 * 1024} scores per batch (got {(long)Tokens * Experts}).");
        }

        if (Batches < 1)
        {
            errors.Add($"--batches must be >= 1 (got {Batches}).");
        }

        if (Workloads.Count == 0)
        {
            errors.Add("--workload needs at least one of uniform, softmax.");
        }

        if (Methods.Count == 0)
        {
            errors.Add("--policy needs at least one of topk, bip, lossfree.");
        }

        var options = new RouterOptions { Bip = Bip, LossFree = LossFree, CapacityFactor = CapacityFactor };
        foreach (string e in options.Validate())
        {
            errors.Add(e.Replace("bip.iterations", "--iterations", StringComparison.Ordinal)
                .Replace("lossFree.updateRate", "--update-rate", StringComparison.Ordinal)
                .Replace("capacityFactor", "--capacity-factor", StringComparison.Ordinal));
        }

        return errors;
    }

    /// <summary>The configurations of a normal (non-sweep) run.</summary>
    public IEnumerable<SimulateConfig> Configs()
    {
        foreach (SimulateWorkloadKind w in Workloads)
        {
            foreach (RoutingMethod m in Methods)
            {
                yield return Config(w, m, Bip);
            }
        }
    }

    /// <summary>
    /// The full grid of docs/balancing.md for each workload: topk, lossfree, BIP over T x clip x order x
    /// start with the requested statistic, then BIP with the other statistic over T x clip (the
    /// requested order and start).
    /// </summary>
    public IEnumerable<SimulateConfig> SweepConfigs()
    {
        OrderStatisticMode other = Bip.Statistic == OrderStatisticMode.Exact ? OrderStatisticMode.Quantile : OrderStatisticMode.Exact;
        foreach (SimulateWorkloadKind w in Workloads)
        {
            yield return Config(w, RoutingMethod.TopK, Bip);
            yield return Config(w, RoutingMethod.LossFree, Bip);
            foreach (BipClip clip in new[] { BipClip.Experts, BipClip.Both, BipClip.Tokens, BipClip.None })
            {
                foreach (int t in new[] { 1, 2, 4 })
                {
                    yield return Config(w, RoutingMethod.Bip, Bip with { Iterations = t, Clip = clip, Statistic = other, Order = BipOrder.UpdateThenRoute, WarmStart = true });
                }
            }

            foreach (bool warm in new[] { true, false })
            {
                foreach (BipOrder order in new[] { BipOrder.UpdateThenRoute, BipOrder.RouteThenUpdate })
                {
                    foreach (BipClip clip in new[] { BipClip.Experts, BipClip.Both, BipClip.Tokens, BipClip.None })
                    {
                        foreach (int t in new[] { 1, 2, 4 })
                        {
                            yield return Config(w, RoutingMethod.Bip, Bip with { Iterations = t, Clip = clip, Order = order, WarmStart = warm });
                        }
                    }
                }
            }
        }
    }

    private SimulateConfig Config(SimulateWorkloadKind workload, RoutingMethod method, BipOptions bip) =>
        new(workload, Tokens, Experts, TopK, Batches, method, bip, LossFree, CapacityFactor, Seed);
}
