namespace MoeServe.Training.Data;

/// <summary>
/// Deterministic training batches over one token array: the stream is cut into windows of
/// length+1 tokens at stride length; each epoch visits every window once in an order shuffled by
/// Random(seed + epoch). Batch s holds windows s*B .. s*B+B-1 of that global order, so the data
/// position of a run is just its step count: resuming at step s replays exactly the same batches.
/// </summary>
public sealed class TokenBatches
{
    private readonly int[] _tokens;
    private readonly int _seed;
    private int _cachedEpoch = -1;
    private int[] _order = [];

    /// <summary>Creates the batch source.</summary>
    /// <param name="tokens">The training token ids.</param>
    /// <param name="batchSize">Sequences per batch.</param>
    /// <param name="length">Tokens per sequence (inputs; targets are shifted by one).</param>
    /// <param name="seed">Seed of the shuffle.</param>
    public TokenBatches(int[] tokens, int batchSize, int length, int seed)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        Windows = (tokens.Length - 1) / length;
        if (Windows < 1)
        {
            throw new ArgumentException($"The training data has {tokens.Length} tokens: too few for one sequence of {length + 1}.", nameof(tokens));
        }

        _tokens = tokens;
        BatchSize = batchSize;
        Length = length;
        _seed = seed;
    }

    /// <summary>Sequences per batch.</summary>
    public int BatchSize { get; }

    /// <summary>Tokens per sequence.</summary>
    public int Length { get; }

    /// <summary>Number of distinct windows (one epoch).</summary>
    public int Windows { get; }

    /// <summary>Fills inputs and targets ([B * T] each, row-major) with batch <paramref name="step"/>.</summary>
    /// <param name="step">Zero-based step index.</param>
    /// <param name="inputs">Output token ids.</param>
    /// <param name="targets">Output next-token ids.</param>
    public void Fill(long step, Span<long> inputs, Span<long> targets)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        int count = BatchSize * Length;
        if (inputs.Length != count || targets.Length != count)
        {
            throw new ArgumentException($"inputs and targets must hold batch * length = {count} tokens.");
        }

        for (int b = 0; b < BatchSize; b++)
        {
            long global = (step * BatchSize) + b;
            int epoch = (int)(global / Windows);
            int window = Order(epoch)[(int)(global % Windows)];
            int start = window * Length;
            for (int t = 0; t < Length; t++)
            {
                inputs[(b * Length) + t] = _tokens[start + t];
                targets[(b * Length) + t] = _tokens[start + t + 1];
            }
        }
    }

    private int[] Order(int epoch)
    {
        if (epoch != _cachedEpoch)
        {
            var order = new int[Windows];
            for (int i = 0; i < order.Length; i++)
            {
                order[i] = i;
            }

            new Random(unchecked(_seed + (epoch * 7919))).Shuffle(order);
            _order = order;
            _cachedEpoch = epoch;
        }

        return _order;
    }
}
