using System.Diagnostics;
using System.Numerics.Tensors;

using LLama;
using LLama.Common;
using LLama.Native;

namespace MoeServe.Peer;

/// <summary>
/// llama.cpp in-process (LLamaSharp's CPU backend) running a GGUF the way bench runs MoeServe: c
/// sequences, each with its own KV cache (KVUnified = false), prefilled together, then decoded one
/// token per sequence per step through the batched API (also at one sequence: LLamaSharp's
/// single-sequence helpers are 1.4-1.7x slower than llama.cpp's own tools), greedy on the host.
/// Flash attention and the F16 KV cache are llama.cpp's defaults, as its own benchmarks run.
/// </summary>
public sealed class LlamaCppPeer : IDisposable
{
    private readonly LLamaWeights _weights;
    private readonly string _path;
    private readonly int _threads;

    private LlamaCppPeer(LLamaWeights weights, string path, int threads)
    {
        _weights = weights;
        _path = path;
        _threads = threads;
    }

    /// <summary>The model's vocabulary size.</summary>
    public int VocabSize => _weights.Vocab.Count;

    /// <summary>Loads <paramref name="ggufPath"/> on the CPU.</summary>
    /// <param name="ggufPath">A GGUF llama.cpp supports.</param>
    /// <param name="threads">Threads for decode and batch work.</param>
    public static LlamaCppPeer Load(string ggufPath, int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        LlamaCppNative.EnsureInitialised();
        var parameters = new ModelParams(ggufPath) { GpuLayerCount = 0, Threads = threads, BatchThreads = threads };
        try
        {
            return new LlamaCppPeer(LLamaWeights.LoadFromFile(parameters), ggufPath, threads);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidOperationException($"llama.cpp could not load {ggufPath}: {e.Message}\n{LlamaCppNative.RecentErrors()}", e);
        }
    }

    /// <summary>
    /// Decodes one sequence per prompt: sequence i's prompt is
    /// <paramref name="prompts"/>[i], then <paramref name="maxTokens"/> greedy steps of one token each.
    /// </summary>
    /// <param name="prompts">One prompt per sequence (equal lengths).</param>
    /// <param name="maxTokens">Decode steps.</param>
    /// <param name="cancellation">Checked between steps.</param>
    public PeerDecodeRun Decode(IReadOnlyList<int[]> prompts, int maxTokens, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        int c = prompts.Count;
        int promptTokens = prompts[0].Length;
        int perSequence = (promptTokens + maxTokens + 255) / 256 * 256;
        var parameters = new ModelParams(_path)
        {
            GpuLayerCount = 0,
            Threads = _threads,
            BatchThreads = _threads,
            SeqMax = (uint)c,
            KVUnified = false,
            FlashAttention = true,
            ContextSize = (uint)(perSequence * c),
            BatchSize = (uint)Math.Max(512, c * promptTokens),
            UBatchSize = 512,
        };
        using var context = _weights.CreateContext(parameters);
        int v = VocabSize;
        var batch = new LLamaBatch();
        var logitIndex = new int[c];
        var next = new int[c];

        // One untimed step of c tokens, then an empty cache: llama.cpp builds and sizes its compute graph
        // for a batch shape on first use, which bench's MoeServe side has done in its warm-up too.
        for (int s = 0; s < c; s++)
        {
            batch.Add(prompts[s][0], 0, (LLamaSeqId)s, true);
        }

        Check(context.NativeHandle.Decode(batch));
        context.NativeHandle.MemoryClear(true);
        batch.Clear();
        for (int s = 0; s < c; s++)
        {
            for (int p = 0; p < promptTokens; p++)
            {
                int index = batch.Add(prompts[s][p], p, (LLamaSeqId)s, p == promptTokens - 1);
                if (p == promptTokens - 1)
                {
                    logitIndex[s] = index;
                }
            }
        }

        long prefillStart = Stopwatch.GetTimestamp();
        Check(context.NativeHandle.Decode(batch));
        double prefill = Stopwatch.GetElapsedTime(prefillStart).TotalSeconds;
        var latencies = new double[maxTokens];
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        long decodeStart = Stopwatch.GetTimestamp();
        for (int step = 0; step < maxTokens; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            for (int s = 0; s < c; s++)
            {
                next[s] = TensorPrimitives.IndexOfMax(context.NativeHandle.GetLogitsIth(logitIndex[s])[..v]);
            }

            batch.Clear();
            for (int s = 0; s < c; s++)
            {
                logitIndex[s] = batch.Add(next[s], promptTokens + step, (LLamaSeqId)s, true);
            }

            long t0 = Stopwatch.GetTimestamp();
            Check(context.NativeHandle.Decode(batch));
            latencies[step] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }

        double decode = Stopwatch.GetElapsedTime(decodeStart).TotalSeconds;
        double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds;
        Array.Sort(latencies);
        return new PeerDecodeRun(c, maxTokens, prefill, decode, c * maxTokens / decode, c * 1000 / latencies[latencies.Length / 2], latencies[latencies.Length / 2], latencies[^1], cpu / (c * maxTokens));
    }

    /// <summary>
    /// The logits at every position of <paramref name="tokens"/> in one decode, with an F32 KV cache and
    /// flash attention off (the settings for a parity check).
    /// </summary>
    /// <param name="tokens">Token ids of one sequence.</param>
    public float[][] Logits(IReadOnlyList<int> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        uint size = (uint)((tokens.Count + 255) / 256 * 256);
        var parameters = new ModelParams(_path)
        {
            GpuLayerCount = 0,
            Threads = _threads,
            BatchThreads = _threads,
            TypeK = GGMLType.GGML_TYPE_F32,
            TypeV = GGMLType.GGML_TYPE_F32,
            FlashAttention = false,
            ContextSize = size,
            BatchSize = size,
            UBatchSize = size,
        };
        using var context = _weights.CreateContext(parameters);
        var batch = new LLamaBatch();
        for (int i = 0; i < tokens.Count; i++)
        {
            batch.Add(tokens[i], i, LLamaSeqId.Zero, true);
        }

        Check(context.NativeHandle.Decode(batch));

        // A view into llama.cpp's buffer that the next decode overwrites: copy it.
        return Enumerable.Range(0, tokens.Count).Select(i => context.NativeHandle.GetLogitsIth(i)[..VocabSize].ToArray()).ToArray();
    }

    /// <summary>llama.cpp's own description of the CPU features its build uses (llama_print_system_info).</summary>
    public static string SystemInfo()
    {
        LlamaCppNative.EnsureInitialised();
        return System.Runtime.InteropServices.Marshal.PtrToStringUTF8(NativeApi.llama_print_system_info())?.Trim() ?? string.Empty;
    }

    /// <inheritdoc />
    public void Dispose() => _weights.Dispose();

    private void Check(DecodeResult result)
    {
        if (result != DecodeResult.Ok)
        {
            throw new InvalidOperationException($"llama_decode returned {result} for {_path}:\n{LlamaCppNative.RecentErrors()}");
        }
    }

}

/// <summary>One decode run of the peer.</summary>
/// <param name="Sequences">Sequences decoded together.</param>
/// <param name="Steps">Decode steps.</param>
/// <param name="PrefillSeconds">The prompts' single decode.</param>
/// <param name="DecodeSeconds">Wall time of the decode steps (host argmax included, as in bench).</param>
/// <param name="DecodeTokensPerSecond">Sequences x steps / decode time.</param>
/// <param name="MedianStepTokensPerSecond">Sequences / median step time.</param>
/// <param name="MedianStepMs">Median step time (llama_decode only).</param>
/// <param name="MaxStepMs">Slowest step.</param>
/// <param name="CpuMsPerToken">Process CPU time per generated token.</param>
public sealed record PeerDecodeRun(int Sequences, int Steps, double PrefillSeconds, double DecodeSeconds, double DecodeTokensPerSecond, double MedianStepTokensPerSecond, double MedianStepMs, double MaxStepMs, double CpuMsPerToken);
