using Microsoft.Extensions.Logging;
using Microsoft.ML.Tokenizers;
using MoeServe.Model;
using MoeServe.Runtime.Caching;

namespace MoeServe.Runtime;

public sealed partial class MoeEngine
{
    private readonly KvCachePool _cachePool;
    private long _cpuFallbackRuns;
    private bool _disposed;

    private MoeEngine(RuntimeOptions options, ILoggerFactory? loggerFactory)
    {
        _ = loggerFactory;
        Options = options;
        _cachePool = new KvCachePool(1, 1, 2, 1, options.MaxSequences);
        throw new NotSupportedException("MoeEngine.Load lands with src/Model's exporter (work in progress).");
    }

    private void ValidateBatch(ReadOnlySpan<ForwardItem> batch, int logitsLength, ForwardStatistics? statistics)
    {
        _ = batch;
        _ = logitsLength;
        _ = statistics;
    }

    private void ForwardCore(ReadOnlySpan<ForwardItem> batch, Span<float> logits, ForwardStatistics? statistics)
    {
        _ = batch;
        _ = logits;
        _ = statistics;
        Interlocked.Add(ref _cpuFallbackRuns, 0);
        throw new NotSupportedException("Work in progress.");
    }

    private void DisposeCore()
    {
        _cachePool.Trim();
    }
}
