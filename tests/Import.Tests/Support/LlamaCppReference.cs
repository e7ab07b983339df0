using System.Collections.Concurrent;
using LLama;
using LLama.Common;
using LLama.Native;

namespace MoeServe.Import.Tests.Support;

/// <summary>
/// llama.cpp in-process (LLamaSharp's CPU backend) as the reference a GGUF is checked against: the
/// token ids it gives a text and its logits at every position, computed as the fixture's dump_logits
/// did (one decode of all positions, F32 KV cache, flash attention off, 2 threads, a new context per
/// prompt). Test-only.
/// </summary>
public static class LlamaCppReference
{
    private static readonly object Gate = new();
    private static readonly ConcurrentQueue<string> RecentLog = new();
    private static bool _initialised;

    /// <summary>What llama.cpp computed: the token ids and, per position, the full-vocabulary logits.</summary>
    public sealed record Result(int[] TokenIds, float[][] Logits);

    /// <summary>Tokenizes <paramref name="text"/> with the model's own tokenizer (BOS only where its metadata says) and evaluates it.</summary>
    public static Result Evaluate(string ggufPath, string text) => Run(ggufPath, ctx => ctx.Tokenize(text, addBos: true, special: true));

    /// <summary>Evaluates the given token ids as they are.</summary>
    public static Result Evaluate(string ggufPath, IReadOnlyList<int> tokenIds) =>
        Run(ggufPath, _ => tokenIds.Select(id => (LLamaToken)id).ToArray());

    /// <summary>Quantizes a GGUF with llama.cpp's own quantizer (llama_model_quantize).</summary>
    public static void Quantize(string source, string destination, LLamaFtype type)
    {
        lock (Gate)
        {
            Initialise();
            if (!LLamaQuantizer.Quantize(source, destination, type, nthread: 2, allowRequantize: true, quantizeOutputTensor: true))
            {
                throw new InvalidOperationException($"llama.cpp could not quantize {source} to {type}:\n{Log()}");
            }
        }
    }

    private static Result Run(string ggufPath, Func<LLamaContext, LLamaToken[]> tokens)
    {
        lock (Gate)
        {
            Initialise();
            var parameters = new ModelParams(ggufPath)
            {
                GpuLayerCount = 0,
                Threads = 2,
                BatchThreads = 2,
                TypeK = GGMLType.GGML_TYPE_F32,
                TypeV = GGMLType.GGML_TYPE_F32,
                FlashAttention = false,
                ContextSize = 256,
                BatchSize = 256,
                UBatchSize = 256,
            };
            LLamaWeights weights;
            try
            {
                weights = LLamaWeights.LoadFromFile(parameters);
            }
            catch (Exception e)
            {
                throw new InvalidOperationException($"llama.cpp could not load {ggufPath}: {e.Message}\n{Log()}", e);
            }
            using (weights)
            {
                LLamaToken[] ids;
                using (LLamaContext probe = weights.CreateContext(parameters))
                {
                    ids = tokens(probe);
                }
                if (ids.Length == 0)
                {
                    throw new ArgumentException("Nothing to evaluate: no tokens.");
                }
                uint size = (uint)((ids.Length + 255) / 256 * 256);
                parameters.ContextSize = size;
                parameters.BatchSize = size;
                parameters.UBatchSize = size;
                using LLamaContext ctx = weights.CreateContext(parameters);
                var batch = new LLamaBatch();
                for (int i = 0; i < ids.Length; i++)
                {
                    batch.Add(ids[i], i, LLamaSeqId.Zero, logits: true);
                }
                DecodeResult result = ctx.NativeHandle.Decode(batch);
                if (result != DecodeResult.Ok)
                {
                    throw new InvalidOperationException($"llama_decode returned {result} for {ggufPath}:\n{Log()}");
                }
                var logits = new float[ids.Length][];
                for (int i = 0; i < ids.Length; i++)
                {
                    // A view into llama.cpp's buffer that the next decode overwrites: copy it.
                    logits[i] = ctx.NativeHandle.GetLogitsIth(i).ToArray();
                }
                return new Result(ids.Select(t => (int)t).ToArray(), logits);
            }
        }
    }

    private static void Initialise()
    {
        if (_initialised)
        {
            return;
        }
        // Before the first native call, or llama.cpp prints ~280 lines to stderr per run. The CPU
        // variant (noavx/avx/avx2/avx512) is left for LLamaSharp to pick from what the machine has.
        NativeLibraryConfig.All.WithLogCallback((level, message) =>
        {
            if (level is LLamaLogLevel.Error or LLamaLogLevel.Warning)
            {
                RecentLog.Enqueue($"[{level}] {message.TrimEnd()}");
                while (RecentLog.Count > 50)
                {
                    RecentLog.TryDequeue(out _);
                }
            }
        });
        NativeApi.llama_empty_call();
        _initialised = true;
    }

    private static string Log() => string.Join("\n", RecentLog);
}
