using MoeServe.Peer;

namespace MoeServe.Cli.Commands;

/// <summary>
/// bench's <c>--peer llamacpp</c>: the same model in llama.cpp, written as a GGUF (F16, llama
/// architecture with experts) from the model directory's own graphs into a temporary file, decoded at
/// the same concurrencies, prompt and generated lengths, in rounds interleaved with MoeServe's.
/// </summary>
internal sealed class BenchPeer : IBenchPeerEngine
{
    /// <summary>The one peer implemented.</summary>
    public const string LlamaCpp = "llamacpp";

    private readonly string? _directory;
    private readonly LlamaCppPeer _peer;

    private BenchPeer(string? directory, LlamaCppPeer peer, string ggufPath)
    {
        _directory = directory;
        _peer = peer;
        GgufPath = ggufPath;
    }

    /// <summary>The GGUF llama.cpp runs: one bench wrote (deleted on dispose) or the one given (kept).</summary>
    public string GgufPath { get; }

    /// <summary>Writes the GGUF of <paramref name="modelDirectory"/> (or takes <paramref name="existingGguf"/>) and loads it in llama.cpp.</summary>
    public static BenchPeer Create(string modelDirectory, int threads, string? existingGguf = null)
    {
        if (existingGguf is not null)
        {
            // The user's file (e.g. the synth GGUF the model was imported from): same weights by construction; kept on dispose.
            return new BenchPeer(null, LlamaCppPeer.Load(existingGguf, threads), existingGguf);
        }

        string directory = Path.Combine(Path.GetTempPath(), "moeserve-peer-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            string path = Path.Combine(directory, "model-f16.gguf");
            LlamaGgufExporter.Write(modelDirectory, path, MoeServe.Model.Gguf.GgmlType.F16);
            return new BenchPeer(directory, LlamaCppPeer.Load(path, threads), path);
        }
        catch
        {
            Directory.Delete(directory, recursive: true);
            throw;
        }
    }

    /// <summary>One decode run of <paramref name="sequences"/> sequences over bench's own prompts.</summary>
    public PeerDecodeRun Decode(int sequences, int[] prompts, int promptTokens, int maxTokens, CancellationToken cancellation)
    {
        var perSequence = new int[sequences][];
        for (int i = 0; i < sequences; i++)
        {
            // The same slices as BenchRunner.Decode gives MoeServe's sequences.
            int start = (i * promptTokens) % Math.Max(1, prompts.Length - promptTokens);
            perSequence[i] = prompts.AsSpan(start, promptTokens).ToArray();
        }

        return _peer.Decode(perSequence, maxTokens, cancellation);
    }

    /// <inheritdoc />
    public string SystemInfo => LlamaCppPeer.SystemInfo();

    /// <inheritdoc />
    public int? ProcessId => null;

    /// <summary>A short run so that the first measured one is not the first use of the weights.</summary>
    public void Warm(int[] prompts, int promptTokens) => Decode(1, prompts, promptTokens, 16, CancellationToken.None);

    public void Dispose()
    {
        _peer.Dispose();
        if (_directory is not null && Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    /// <summary>The machine as the report states it: CPU model and SIMD flags, cores, date, llama.cpp's own feature line.</summary>
    /// <param name="loadAverage">The load average at the start.</param>
    /// <param name="llamaCppSystemInfo">The peer's <see cref="IBenchPeerEngine.SystemInfo"/>.</param>
    public static BenchMachine DescribeMachine(string loadAverage, string llamaCppSystemInfo)
    {
        string model = "unknown";
        string[] flags = [];
        if (File.Exists("/proc/cpuinfo"))
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
            {
                if (line.StartsWith("model name", StringComparison.Ordinal) && model == "unknown")
                {
                    model = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
                }
                else if (line.StartsWith("flags", StringComparison.Ordinal) && flags.Length == 0)
                {
                    string[] all = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    flags = all.Where(f => f is "sse4_2" or "avx" or "avx2" or "fma" or "f16c" or "avx_vnni" or "amx_tile" || f.StartsWith("avx512", StringComparison.Ordinal)).ToArray();
                }
            }
        }

        return new BenchMachine(model, flags, Environment.ProcessorCount, DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture), loadAverage, llamaCppSystemInfo);
    }
}

/// <summary>What bench needs of a peer engine, in this process (<see cref="BenchPeer"/>) or in a child (<see cref="BenchPeerProcess"/>).</summary>
internal interface IBenchPeerEngine : IDisposable
{
    /// <summary>The GGUF the peer runs.</summary>
    string GgufPath { get; }

    /// <summary>llama.cpp's own feature line, from the process that runs it.</summary>
    string SystemInfo { get; }

    /// <summary>The id of the child process the peer runs in; null when it runs in this one.</summary>
    int? ProcessId { get; }

    /// <summary>One decode run of <paramref name="sequences"/> sequences over bench's own prompts.</summary>
    PeerDecodeRun Decode(int sequences, int[] prompts, int promptTokens, int maxTokens, CancellationToken cancellation);
}

/// <summary>The machine a bench ran on.</summary>
internal sealed record BenchMachine(string Cpu, IReadOnlyList<string> SimdFlags, int ProcessorCount, string DateUtc, string LoadAverageAtStart, string LlamaCppSystemInfo);

/// <summary>The peer's side of one concurrency level: its median run and MoeServe's over the peer's.</summary>
/// <param name="Concurrency">Sequences decoded together.</param>
/// <param name="Peer">The peer's median run (by decode tokens/s).</param>
/// <param name="MoeServeTokensPerSecond">MoeServe's median decode tokens/s.</param>
/// <param name="Ratio">MoeServe / peer decode tokens/s.</param>
/// <param name="MedianStepRatio">The same at the median step.</param>
/// <param name="MoeServePrefillMs">Median over the rounds of MoeServe's prefill: every sequence's prompt in one step, so the first token of all of them.</param>
/// <param name="PeerPrefillMs">The same for the peer (one llama_decode of all prompts).</param>
internal sealed record BenchPeerLevel(int Concurrency, PeerDecodeRun Peer, double MoeServeTokensPerSecond, double Ratio, double MedianStepRatio, double MoeServePrefillMs, double PeerPrefillMs);

/// <summary>bench --peer's part of the report.</summary>
/// <param name="Peer">The peer's name.</param>
/// <param name="Gguf">Which GGUF it ran.</param>
/// <param name="Threads">The peer's threads.</param>
/// <param name="Machine">The machine.</param>
/// <param name="Levels">One entry per concurrency level.</param>
/// <param name="LoadAverageAtEnd">The load average at the end.</param>
/// <param name="PeerProcessId">The child process's id when the peer ran in one (<c>--peer-process</c>); null when it ran in bench's own.</param>
internal sealed record BenchPeerReport(string Peer, string Gguf, int Threads, BenchMachine Machine, IReadOnlyList<BenchPeerLevel> Levels, string? LoadAverageAtEnd, int? PeerProcessId = null);
