using BenchmarkDotNet.Running;

// Runs every benchmark class in this assembly; pass BenchmarkDotNet arguments through, for example
// `-- --filter '*Routing*' --job short`.
BenchmarkSwitcher.FromAssembly(typeof(MoeServe.Benchmarks.RoutingBenchmarks).Assembly).Run(args);
