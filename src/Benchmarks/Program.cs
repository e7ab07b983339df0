using System.Globalization;

using BenchmarkDotNet.Running;

using MoeServe.Benchmarks;

// `ratio [rounds]`: the interleaved CPU-time probe (robust on a shared machine).
// Anything else goes to BenchmarkDotNet, for example `--filter '*Routing*' --job short`.
if (args.Length > 0 && args[0] == "ratio")
{
    int rounds = args.Length > 1 && int.TryParse(args[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int r) && r > 0 ? r : 30;
    RoutingRatioProbe.Run(rounds);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(RoutingBenchmarks).Assembly).Run(args);
