using System.Diagnostics;
using System.Numerics.Tensors;
using MoeServe.Router;
using MoeServe.Runtime.Caching;

namespace MoeServe.Runtime.Evaluation;

/// <summary>
/// Perplexity of a token stream through the engine, windowed exactly as training validates:
/// consecutive, non-overlapping windows of <c>length</c> tokens, each token predicting the next one,
/// each window from an empty cache. Also accumulates expert loads for MaxVio_global per layer.
/// </summary>
public sealed class PerplexityEvaluator
{
    private readonly MoeEngine _engine;

    /// <summary>Creates an evaluator over a loaded engine (its MaxBatchTokens must hold windowsPerStep x length).</summary>
    /// <param name="engine">The engine (not owned).</param>
    public PerplexityEvaluator(MoeEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        _engine = engine;
    }

    /// <summary>Evaluates <paramref name="tokens"/>.</summary>
    /// <param name="tokens">The token stream (e.g. the encoded validation corpus).</param>
    /// <param name="length">Window length, 2..context length.</param>
    /// <param name="tokenLimit">Evaluate at most this many tokens (whole windows, at least one); 0 = all.</param>
    /// <param name="windowsPerStep">Windows per forward step.</param>
    /// <param name="cancellationToken">Checked between steps.</param>
    public PerplexityResult Evaluate(ReadOnlyMemory<int> tokens, int length, int tokenLimit = 0, int windowsPerStep = 8, CancellationToken cancellationToken = default)
    {
        if (length < 2 || length > _engine.ContextLength)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, $"The window length must be in 2..{_engine.ContextLength} (the context length).");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(tokenLimit);
        ArgumentOutOfRangeException.ThrowIfLessThan(windowsPerStep, 1);
        int windows = (tokens.Length - 1) / length;
        if (tokenLimit > 0)
        {
            windows = Math.Min(windows, Math.Max(1, tokenLimit / length));
        }

        if (windows < 1)
        {
            throw new ArgumentException($"{tokens.Length} tokens are too few for one window of {length} plus the next token.", nameof(tokens));
        }

        var config = _engine.Config;
        int v = _engine.VocabSize;
        var caches = new KvCache[Math.Min(windowsPerStep, windows)];
        var items = new ForwardItem[caches.Length];
        var logits = new float[caches.Length * length * v];
        var scratch = new float[v];
        var stats = _engine.CreateStatistics();
        var trackers = Enumerable.Range(0, config.Layers).Select(_ => new MaxVioTracker(config.Experts)).ToArray();
        var ids = tokens.Span;
        double lossSum = 0;
        long count = 0;
        long start = Stopwatch.GetTimestamp();
        try
        {
            for (int i = 0; i < caches.Length; i++)
            {
                caches[i] = _engine.CreateCache();
            }

            for (int first = 0; first < windows; first += caches.Length)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int n = Math.Min(caches.Length, windows - first);
                for (int b = 0; b < n; b++)
                {
                    caches[b].Clear();
                    items[b] = new ForwardItem(caches[b], tokens.Slice((first + b) * length, length));
                }

                _engine.ForwardAllPositions(items.AsSpan(0, n), logits, stats);
                for (int b = 0; b < n; b++)
                {
                    int offset = (first + b) * length;
                    for (int t = 0; t < length; t++)
                    {
                        // Cross-entropy of the next token: logsumexp(row) - row[target].
                        var row = logits.AsSpan(((b * length) + t) * v, v);
                        float max = TensorPrimitives.Max(row);
                        TensorPrimitives.Subtract(row, max, scratch);
                        TensorPrimitives.Exp(scratch, scratch);
                        lossSum += max + Math.Log(TensorPrimitives.Sum(scratch)) - row[ids[offset + t + 1]];
                    }

                    count += length;
                }

                for (int l = 0; l < trackers.Length; l++)
                {
                    trackers[l].RecordLoads(stats.ExpertTokens(l));
                }
            }
        }
        finally
        {
            foreach (var cache in caches)
            {
                cache?.Dispose();
            }
        }

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        double loss = lossSum / count;
        return new PerplexityResult(count, windows, length, loss, Math.Exp(loss), trackers.Select(t => t.Global).ToArray(), count / seconds, seconds);
    }
}

/// <summary>What <see cref="PerplexityEvaluator.Evaluate"/> measured.</summary>
/// <param name="Tokens">Predicted tokens.</param>
/// <param name="Windows">Windows evaluated.</param>
/// <param name="SequenceLength">Window length.</param>
/// <param name="Loss">Mean cross-entropy (nats).</param>
/// <param name="Perplexity">exp(Loss).</param>
/// <param name="MaxVioGlobalPerLayer">MaxVio of the summed loads of each layer over the whole evaluation.</param>
/// <param name="TokensPerSecond">Tokens through the model per second.</param>
/// <param name="Seconds">Wall time.</param>
public sealed record PerplexityResult(long Tokens, int Windows, int SequenceLength, double Loss, double Perplexity, IReadOnlyList<double> MaxVioGlobalPerLayer, double TokensPerSecond, double Seconds)
{
    /// <summary>MaxVio_global averaged over layers.</summary>
    public double MaxVioGlobal => MaxVioGlobalPerLayer.Count == 0 ? 0 : MaxVioGlobalPerLayer.Average();
}
