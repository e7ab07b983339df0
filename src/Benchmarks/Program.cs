using System.Globalization;

using BenchmarkDotNet.Running;

using MoeServe.Benchmarks;

// `ratio [rounds]`: the interleaved CPU-time probe (robust on a shared machine).
// `pool [phases] [item-us] [gap-us]`: what a hand-over of the engine's worker pool costs.
// `attention [sequences,...] [visible] [rounds] [olmoe]`: the attention kernel over float32 and float16 KV caches.
// `int4 [rows,...] [matrices] [rounds] [threads]`: the managed int4 kernel against MatMulNBits.
// `half [rows,...] [rounds] [model dir]`: a float16 model's expert sessions against the managed float16 kernel.
// Anything else goes to BenchmarkDotNet, for example `--filter '*Routing*' --job short`.
if (args.Length > 0 && args[0] == "ratio")
{
    int rounds = args.Length > 1 && int.TryParse(args[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int r) && r > 0 ? r : 30;
    RoutingRatioProbe.Run(rounds);
    return;
}

if (args.Length > 0 && args[0] == "pool")
{
    PoolProbe.Run(
        args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 20000,
        args.Length > 2 ? double.Parse(args[2], CultureInfo.InvariantCulture) : 50,
        args.Length > 3 ? double.Parse(args[3], CultureInfo.InvariantCulture) : 10);
    return;
}

if (args.Length > 0 && args[0] == "attention")
{
    int[] sequences = args.Length > 1 ? args[1].Split(',').Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToArray() : [1, 8, 32, 128];
    int visible = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 96;
    int rounds = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 12;
    AttentionProbe.Run(sequences, visible, rounds, args.Length > 4 && args[4] == "olmoe");
    return;
}

if (args.Length > 0 && args[0] == "int4")
{
    int[] rows = args.Length > 1 ? args[1].Split(',').Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToArray() : [1, 4, 8];
    int matrices = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 64;
    int rounds = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 9;
    int threads = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 1;
    Int4Probe.Run(rows, matrices, rounds, threads);
    return;
}

if (args.Length > 0 && args[0] == "half")
{
    int[] rows = args.Length > 1 ? args[1].Split(',').Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToArray() : [1, 2, 4, 8, 16];
    int rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 9;
    HalfExpertProbe.Run(rows, rounds, args.Length > 3 ? args[3] : "models/default");
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(RoutingBenchmarks).Assembly).Run(args);
