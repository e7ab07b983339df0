namespace MoeServe.Cli.Commands;

/// <summary>Prints bench --peer's table: the machine, both engines' decode tokens/s per level and their ratio.</summary>
internal static class BenchPeerOutput
{
    public static void Print(BenchPeerReport report, BenchPeak? peak)
    {
        var c = CultureInfo.InvariantCulture;
        var m = report.Machine;
        Console.WriteLine($"peer {report.Peer} ({report.Gguf}, {report.Threads} threads, flash attention on, KV cache per sequence, {(report.PeerProcessId is int id ? $"in its own process {id}" : "in bench's process")}), {m.DateUtc}");
        Console.WriteLine($"  CPU {m.Cpu}, {m.ProcessorCount} cores, flags {string.Join(' ', m.SimdFlags)}; load average {m.LoadAverageAtStart} at start, {report.LoadAverageAtEnd} at end");
        Console.WriteLine($"  llama.cpp: {m.LlamaCppSystemInfo}");
        if (peak is not null)
        {
            Console.WriteLine(string.Create(c, $"  matrix-multiply peak: {peak.GflopsOneThread:F1} GFLOP/s on one thread, {peak.GflopsAllWorkers:F1} on {peak.Workers}"));
        }

        if (double.TryParse(m.LoadAverageAtStart.Split(' ')[0], NumberStyles.Float, c, out double load) && load > m.ProcessorCount)
        {
            // Measured: at load 20-29 on 2 cores single llama.cpp steps took 2-3 s (docs/benchmarks.md).
            Console.WriteLine($"  note: load average {load.ToString("F1", c)} exceeds the {m.ProcessorCount} cores; llama.cpp's threads spin at barriers and stall when preempted, so its figures measure the load (compare --workers 1 --peer-threads 1, or OMP_WAIT_POLICY=PASSIVE)");
        }

        Console.WriteLine("sequences | llama.cpp tok/s | MoeServe tok/s | ratio | llama.cpp step ms p50 | step ratio (at p50) | prefill ms llama.cpp | prefill ms MoeServe | prefill ratio");
        foreach (var level in report.Levels)
        {
            Console.WriteLine(string.Create(c, $"{level.Concurrency,9} | {level.Peer.DecodeTokensPerSecond,15:F1} | {level.MoeServeTokensPerSecond,14:F1} | {level.Ratio,4:F2}x | {level.Peer.MedianStepMs,21:F2} | {level.MedianStepRatio,18:F2}x | {level.PeerPrefillMs,20:F1} | {level.MoeServePrefillMs,19:F1} | {level.PeerPrefillMs / level.MoeServePrefillMs,12:F2}x"));
        }

        // Prefill puts every sequence's whole prompt in one step: at equal arrival it is the time to the first token.
        Console.WriteLine("  prefill: all sequences' prompts in one step (median of the rounds); prefill ratio = llama.cpp ms / MoeServe ms, above 1 when MoeServe is faster");
    }
}
