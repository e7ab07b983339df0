using System.Diagnostics;
using MoeServe.Model;
using MoeServe.Router;
using MoeServe.Runtime.Caching;

namespace MoeServe.Runtime.Calibration;

/// <summary>
/// Calibrates a model's q for serving: runs the model forward over calibration text in batches of n
/// tokens with online BIP routing (the engine's <see cref="RoutingMethod.Bip"/>: T dual iterations per
/// layer per batch, update-then-route, warm-started from the previous batch's q, exactly as training
/// routes), and folds each batch's q into a <see cref="QAverage"/> (the same class training uses). The
/// average, not the last batch's q, is the result: a single batch's dual fits that batch, not the text.
/// </summary>
public sealed class QCalibrator
{
    private readonly RuntimeOptions _baseOptions;

    /// <summary>Creates a calibrator for the model of <paramref name="baseOptions"/> (providers, devices and workers are taken from it).</summary>
    /// <param name="baseOptions">Runtime options naming the model.</param>
    public QCalibrator(RuntimeOptions baseOptions)
    {
        ArgumentNullException.ThrowIfNull(baseOptions);
        _baseOptions = baseOptions;
    }

    /// <summary>Runs the calibration over <paramref name="tokens"/>.</summary>
    /// <param name="tokens">The encoded calibration text.</param>
    /// <param name="options">Batch size, iterations, budget.</param>
    /// <param name="progress">Called after every batch; null for none.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <exception cref="ArgumentException">Invalid options (every problem listed) or too little text for one batch.</exception>
    public CalibrationResult Run(ReadOnlyMemory<int> tokens, CalibrationOptions options, Action<CalibrationProgress>? progress = null, CancellationToken cancellationToken = default)
        => Run(_ => tokens, options, progress, cancellationToken);

    /// <summary>Runs the calibration over the tokens <paramref name="readTokens"/> gives for the loaded engine (its tokenizer encodes the text).</summary>
    /// <param name="readTokens">Encodes the calibration text with the engine's tokenizer.</param>
    /// <param name="options">Batch size, iterations, budget.</param>
    /// <param name="progress">Called after every batch; null for none.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    public CalibrationResult Run(Func<MoeEngine, ReadOnlyMemory<int>> readTokens, CalibrationOptions options, Action<CalibrationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(readTokens);
        ArgumentNullException.ThrowIfNull(options);
        ErrorList.ThrowInvalidArgumentIfAny("Invalid calibration options", options.Validate());

        string directory = File.Exists(_baseOptions.ModelPath) ? Path.GetDirectoryName(Path.GetFullPath(_baseOptions.ModelPath))! : _baseOptions.ModelPath;
        var manifest = ModelManifest.Load(directory);
        var config = manifest.Config;
        int length = Math.Min(options.SequenceLength ?? Math.Min(config.ContextLength, options.BatchTokens), config.ContextLength);
        length = Math.Min(length, options.BatchTokens);
        int windowsPerBatch = Math.Max(1, options.BatchTokens / length);
        int batchTokens = windowsPerBatch * length;
        var start = options.StartFromCurrent ? manifest.Routing.Q : [.. Enumerable.Range(0, config.Layers).Select(_ => new float[config.Experts])];
        var runtime = _baseOptions with
        {
            Routing = RoutingMethod.Bip,
            OnlineBipIterations = options.Iterations,
            OnlineBipMinTokens = 0,
            QScale = 1.0,
            QOverride = start,
            MaxBatchTokens = batchTokens,
            MaxSequences = windowsPerBatch,
        };

        using var engine = MoeEngine.Load(runtime);
        var tokens = readTokens(engine);
        long available = tokens.Length / batchTokens;
        long budget = options.Tokens > 0 ? Math.Max(1, options.Tokens / batchTokens) : available;
        int batches = (int)Math.Min(available, budget);
        if (batches < 1)
        {
            throw new ArgumentException($"{tokens.Length} tokens are too few for one calibration batch of {batchTokens}.", nameof(readTokens));
        }

        int[] order = [.. Enumerable.Range(0, tokens.Length / length)];
        if (options.ShuffleSeed is int seed)
        {
            new Random(seed).Shuffle(order);
        }

        var live = new BalancingState("bip", start);
        var average = new QAverage(live, options.AverageWindow);
        var stats = engine.CreateStatistics();
        var caches = new KvCache[windowsPerBatch];
        var items = new ForwardItem[windowsPerBatch];
        var logits = new float[windowsPerBatch * config.VocabSize];
        long begin = Stopwatch.GetTimestamp();
        double maxVioSum = 0;
        try
        {
            for (int i = 0; i < caches.Length; i++)
            {
                caches[i] = engine.CreateCache();
            }

            for (int b = 0; b < batches; b++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                for (int w = 0; w < windowsPerBatch; w++)
                {
                    caches[w].Clear();
                    items[w] = new ForwardItem(caches[w], tokens.Slice(order[(b * windowsPerBatch) + w] * length, length));
                }

                engine.Forward(items, logits, stats);
                double batchMaxVio = 0;
                for (int l = 0; l < config.Layers; l++)
                {
                    engine.CopyRoutingBias(l, live.Layer(l));
                    batchMaxVio += LoadStatistics.MaxViolation(stats.ExpertTokens(l));
                }

                average.Update(b);
                batchMaxVio /= config.Layers;
                maxVioSum += batchMaxVio;
                progress?.Invoke(new CalibrationProgress(b + 1, batches, (long)(b + 1) * batchTokens, batchMaxVio, Stopwatch.GetElapsedTime(begin)));
            }
        }
        finally
        {
            foreach (var cache in caches)
            {
                cache?.Dispose();
            }
        }

        var q = Enumerable.Range(0, config.Layers).Select(l => average.State.Layer(l).ToArray()).ToArray();
        return new CalibrationResult(q, (long)batches * batchTokens, batches, batchTokens, length, maxVioSum / batches, Stopwatch.GetElapsedTime(begin).TotalSeconds);
    }
}
