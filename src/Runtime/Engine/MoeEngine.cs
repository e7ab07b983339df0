using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.Tokenizers;
using MoeServe.Model;
using MoeServe.Runtime.Caching;
using MoeServe.Runtime.Sessions;

namespace MoeServe.Runtime;

/// <summary>
/// The inference engine: one exported model (manifest plus per-layer dense and per-expert ONNX graphs),
/// one InferenceSession per graph, KV caches per sequence, and a batched forward step that routes every
/// token of the step together and runs each expert once over the tokens sent to it.
/// </summary>
/// <remarks>
/// One step at a time: <see cref="Forward"/> calls from several threads run one after another, and
/// <see cref="Dispose"/> waits for the step in progress (the server's batching loop owns the engine);
/// inside a step, experts and per-sequence dense graphs run concurrently on
/// <see cref="RuntimeOptions.ExpertWorkers"/> threads. <see cref="CreateCache"/> and cache disposal are
/// thread-safe. Loading is <see cref="ModelLoader"/>'s job and the forward pass <see cref="ForwardStep"/>'s;
/// the engine checks arguments, hands out caches and owns both.
/// </remarks>
public sealed class MoeEngine : IDisposable
{
    private readonly LoadedModel _model;
    private readonly ForwardStep _step;
    private readonly KvCachePool _cachePool;
    // Held for a whole step and by Dispose: the sessions and pooled native buffers a step is using must
    // never be released under it (a host stopping while its loop is mid-step freed them, heap corruption).
    private readonly Lock _stepGate = new();
    private int _stepStamp;
    private bool _disposed;

    private MoeEngine(RuntimeOptions options, ILoggerFactory? loggerFactory, ICudaProbe? cudaProbe)
    {
        Options = options;
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("MoeServe.Runtime.MoeEngine");
        _model = ModelLoader.Load(options, logger, cudaProbe);
        StopTokenIds = _model.Manifest.StopTokenIds();
        Prompts = new PromptEncoder(_model.Tokenizer, _model.Manifest);
        var config = _model.Manifest.Config;
        try
        {
            _cachePool = new KvCachePool(config.Layers, config.KeyValueHeads, config.HeadDim, config.ContextLength, options.MaxSequences, options.KvCacheDType);
            _step = new ForwardStep(_model.Graphs, _model.Manifest, options);
        }
        catch
        {
            // The sessions are native: a failure after loading must not leak them.
            _model.Dispose();
            throw;
        }
    }

    /// <summary>Loads and validates the model named by <paramref name="options"/> and creates every session.</summary>
    /// <param name="options">Model path, providers, devices, workers, routing.</param>
    /// <param name="loggerFactory">Logging (device fallback, breaker state changes); null for none.</param>
    /// <exception cref="ArgumentException">The options are invalid (every problem listed).</exception>
    /// <exception cref="InvalidDataException">The manifest or a graph is missing or invalid (every problem listed, file names included).</exception>
    public static MoeEngine Load(RuntimeOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.EnsureValid();
        return new MoeEngine(options, loggerFactory, null);
    }

    /// <summary>Load with a replaced CUDA probe (tests simulate machines where appending CUDA fails in other ways).</summary>
    internal static MoeEngine Load(RuntimeOptions options, ILoggerFactory? loggerFactory, ICudaProbe? cudaProbe)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.EnsureValid();
        return new MoeEngine(options, loggerFactory, cudaProbe);
    }

    /// <summary>The options the engine was loaded with.</summary>
    public RuntimeOptions Options { get; }

    /// <summary>The exported model's manifest (config, graphs, routing q, special tokens, training summary).</summary>
    public ModelManifest Manifest => _model.Manifest;

    /// <summary>The model architecture from the manifest.</summary>
    public ModelConfig Config => _model.Manifest.Config;

    /// <summary>The model's name (the manifest's name, else its directory name).</summary>
    public string ModelName => _model.Manifest.Name;

    /// <summary>The directory holding manifest.json and the graphs.</summary>
    public string ModelDirectory => _model.Directory;

    /// <summary>The model's tokenizer (Microsoft.ML.Tokenizers), loaded from the manifest's tokenizer files.</summary>
    public Tokenizer Tokenizer => _model.Tokenizer;

    /// <summary>Id of the end-of-text special token, or -1 when the tokenizer has none.</summary>
    public int EndOfTextTokenId => _model.Manifest.EndOfTextId;

    /// <summary>Every id that ends generation: the manifest's end-of-sequence ids (a Hugging Face eos_token_id list), else the end-of-text id; empty when none.</summary>
    public IReadOnlyList<int> StopTokenIds { get; }

    /// <summary>The model's tokenizer with its BOS rule: prompt encoding, decoding and token strings (shared with the CLI).</summary>
    public PromptEncoder Prompts { get; }

    /// <summary>
    /// Encodes a prompt as the model expects it: the tokenizer's ids, with the manifest's BOS id in front
    /// when the model asks for one (an imported model whose tokenizer_config.json has add_bos_token true).
    /// </summary>
    /// <param name="text">The prompt text.</param>
    /// <param name="maxTokens">Stop encoding after this many tokenizer ids.</param>
    public int[] EncodePrompt(string text, int maxTokens = int.MaxValue) => Prompts.Encode(text, maxTokens: maxTokens);

    /// <summary>Longest sequence (prompt plus generated tokens) a cache holds.</summary>
    public int ContextLength => Config.ContextLength;

    /// <summary>Logits per token (V).</summary>
    public int VocabSize => Config.VocabSize;

    /// <summary>What each configured device actually runs on (CUDA or the CPU fallback, and why).</summary>
    public IReadOnlyList<DeviceReport> Devices => _model.Devices;

    /// <summary>How the sessions share ONNX Runtime's thread pools and CPU arena, and how many were created at load.</summary>
    public SessionResourceReport SessionResources => _model.SessionResources;

    /// <summary>KV caches created and not yet disposed.</summary>
    public int LiveCacheCount => _cachePool.LiveCount;

    /// <summary>Expert Runs re-run on CPU since load (device failure or open breaker).</summary>
    public long CpuFallbackRuns => _step.CpuFallbackRuns;

    /// <summary>A new, empty KV cache for one sequence (pooled buffers; dispose it when the sequence ends).</summary>
    /// <exception cref="InvalidOperationException">maxSequences caches are alive.</exception>
    public KvCache CreateCache()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new KvCache(_cachePool, this);
    }

    /// <summary>
    /// Copies the q that layer <paramref name="layer"/> routes with right now into <paramref name="destination"/>
    /// (length = experts): the trained q (Trained), the live q BIP refines each step (OnlineBip), or zeros
    /// (TopK). Call between steps: online BIP updates it during <see cref="Forward"/>.
    /// </summary>
    /// <param name="layer">Layer index.</param>
    /// <param name="destination">At least <c>Config.Experts</c> floats.</param>
    public void CopyRoutingBias(int layer, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, Config.Layers);
        if (destination.Length < Config.Experts)
        {
            throw new ArgumentException($"destination holds {destination.Length} floats; the model has {Config.Experts} experts.", nameof(destination));
        }

        var q = _step.RoutingBias(layer);
        if (q.IsEmpty)
        {
            destination[..Config.Experts].Clear();
        }
        else
        {
            q.CopyTo(destination);
        }
    }

    /// <summary>A statistics object shaped for this model and worker count, to pass to every <see cref="Forward"/>.</summary>
    public ForwardStatistics CreateStatistics() => new(Config.Layers, Config.Experts, Options.ExpertWorkers);

    /// <summary>
    /// One forward step over a batch of sequences: appends each item's tokens to its cache and writes the
    /// logits of each item's last token into <paramref name="logits"/>[i x V .. (i + 1) x V).
    /// </summary>
    /// <param name="batch">The sequences of the step; each cache at most once.</param>
    /// <param name="logits">At least batch.Length x <see cref="VocabSize"/> floats.</param>
    /// <param name="statistics">Filled with the step's per-layer load and timing; null to skip.</param>
    /// <exception cref="ArgumentException">An item is empty, a cache is foreign, disposed, repeated or would overflow, or logits is too short.</exception>
    public void Forward(ReadOnlySpan<ForwardItem> batch, Span<float> logits, ForwardStatistics? statistics = null)
    {
        lock (_stepGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ValidateBatch(batch, logits.Length, statistics, allPositions: false);
            _step.Run(batch, logits, statistics, allPositions: false);
        }
    }

    /// <summary>
    /// Like <see cref="Forward"/>, but writes the logits of EVERY appended token, item after item
    /// (row r of the step's tokens at logits[r x V ..]): what perplexity evaluation needs.
    /// </summary>
    /// <param name="batch">The sequences of the step; each cache at most once.</param>
    /// <param name="logits">At least (total tokens of the batch) x <see cref="VocabSize"/> floats.</param>
    /// <param name="statistics">Filled with the step's per-layer load and timing; null to skip.</param>
    public void ForwardAllPositions(ReadOnlySpan<ForwardItem> batch, Span<float> logits, ForwardStatistics? statistics = null)
    {
        lock (_stepGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ValidateBatch(batch, logits.Length, statistics, allPositions: true);
            _step.Run(batch, logits, statistics, allPositions: true);
        }
    }

    /// <summary>Disposes every session and frees pooled buffers, after the step in progress (if any) has finished.</summary>
    public void Dispose()
    {
        lock (_stepGate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _step.Dispose();
            _model.Dispose();
        }

        _cachePool.Dispose();
    }

    private void ValidateBatch(ReadOnlySpan<ForwardItem> batch, int logitsLength, ForwardStatistics? statistics, bool allPositions)
    {
        if (batch.IsEmpty)
        {
            throw new ArgumentException("The batch is empty.", nameof(batch));
        }

        if (batch.Length > Options.MaxSequences)
        {
            throw new ArgumentException($"The batch has {batch.Length} sequences; maxSequences is {Options.MaxSequences}.", nameof(batch));
        }

        long rows = batch.Length;
        if (allPositions)
        {
            rows = 0;
            foreach (var item in batch)
            {
                rows += item.Tokens.Length;
            }
        }

        if (logitsLength < rows * VocabSize)
        {
            throw new ArgumentException($"logits holds {logitsLength} floats; {rows} rows of logits need {rows * VocabSize}.", "logits");
        }

        if (statistics is not null && (statistics.Layers != Config.Layers || statistics.Experts != Config.Experts || statistics.Workers != Options.ExpertWorkers))
        {
            throw new ArgumentException("statistics was not made for this engine; use CreateStatistics().", nameof(statistics));
        }

        int stamp = ++_stepStamp;
        long tokens = 0;
        for (int i = 0; i < batch.Length; i++)
        {
            var item = batch[i];
            var cache = item.Cache ?? throw new ArgumentException($"batch[{i}] has no cache.", nameof(batch));
            if (!ReferenceEquals(cache.Owner, this))
            {
                throw new ArgumentException($"batch[{i}]: the cache belongs to another engine.", nameof(batch));
            }

            ObjectDisposedException.ThrowIf(cache.IsDisposed, cache);
            if (cache.StepStamp == stamp)
            {
                throw new ArgumentException($"batch[{i}]: the same cache appears twice in one step.", nameof(batch));
            }

            cache.StepStamp = stamp;
            int t = item.Tokens.Length;
            if (t == 0)
            {
                throw new ArgumentException($"batch[{i}] has no tokens.", nameof(batch));
            }

            if (t > cache.Remaining)
            {
                throw new ArgumentException($"batch[{i}]: {t} tokens do not fit: the cache holds {cache.Length} of {cache.Capacity} (context length).", nameof(batch));
            }

            foreach (int id in item.Tokens.Span)
            {
                if ((uint)id >= (uint)VocabSize)
                {
                    throw new ArgumentException($"batch[{i}]: token id {id} is outside the vocabulary [0, {VocabSize}).", nameof(batch));
                }
            }

            tokens += t;
        }

        if (tokens > Options.MaxBatchTokens)
        {
            throw new ArgumentException($"The batch has {tokens} tokens; maxBatchTokens is {Options.MaxBatchTokens}. Split the prefill into chunks.", nameof(batch));
        }
    }
}

