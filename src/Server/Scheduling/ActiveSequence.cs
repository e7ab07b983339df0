using MoeServe.Runtime;
using MoeServe.Runtime.Caching;
using MoeServe.Runtime.Generation;

namespace MoeServe.Server.Scheduling;

/// <summary>
/// A job in the running batch: its KV cache, how much of its prompt is prefilled, its random generator
/// and its <see cref="TokenOutput"/> (text, stop strings, logprobs, finish). Owned by the batching loop's thread.
/// </summary>
internal sealed class ActiveSequence : IDisposable
{
    private readonly int[] _decodeToken = new int[1];

    public ActiveSequence(GenerationJob job, KvCache cache, MoeEngine engine, long admittedTimestamp)
    {
        Job = job;
        Cache = cache;
        Random = job.Sampling.CreateRandom();
        Output = new TokenOutput(engine.Tokenizer, job.Sampling, engine.StopTokenIds, job.PromptTokens.Length, cache.Capacity, job.WantsLogprobs);
        AdmittedTimestamp = admittedTimestamp;
    }

    public GenerationJob Job { get; }

    public KvCache Cache { get; private set; }

    public Random Random { get; }

    public TokenOutput Output { get; }

    public long AdmittedTimestamp { get; }

    public long LastTokenTimestamp { get; set; }

    /// <summary>Prompt tokens already in the cache.</summary>
    public int Prefilled { get; private set; }

    /// <summary>Tokens generated (the end-of-text token excluded).</summary>
    public int Generated => Output.Generated;

    public bool IsPrefilling => Prefilled < Job.PromptTokens.Length;

    /// <summary>Tokens of this step's item; for a prefill chunk, whether it completes the prompt.</summary>
    public ReadOnlyMemory<int> NextPrefillChunk(int maxTokens, out bool completesPrompt)
    {
        var count = Math.Min(maxTokens, Job.PromptTokens.Length - Prefilled);
        var chunk = Job.PromptTokens.AsMemory(Prefilled, count);
        Prefilled += count;
        completesPrompt = !IsPrefilling;
        return chunk;
    }

    /// <summary>The single token fed back for the next decode step.</summary>
    public ReadOnlyMemory<int> DecodeToken(int tokenId)
    {
        _decodeToken[0] = tokenId;
        return _decodeToken;
    }

    public int LastToken { get; set; } = -1;

    public bool Finished { get; set; }

    public void Dispose()
    {
        Cache.Dispose();
        Output.Dispose();
    }
}
