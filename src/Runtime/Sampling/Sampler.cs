using System.Numerics.Tensors;

namespace MoeServe.Runtime.Sampling;

/// <summary>
/// Draws the next token from one row of logits: greedy, temperature, top-k, top-p, with the request's
/// seeded <see cref="Random"/>. Owns scratch buffers of vocabulary size, so sampling allocates nothing;
/// one sampler per thread (not thread-safe).
/// </summary>
public sealed class Sampler
{
    private readonly float[] _probabilities;
    private readonly float[] _sortKeys;
    private readonly int[] _sortIndices;

    /// <summary>Creates a sampler for a vocabulary size.</summary>
    /// <param name="vocabSize">Logits per row.</param>
    public Sampler(int vocabSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabSize);
        VocabSize = vocabSize;
        _probabilities = new float[vocabSize];
        _sortKeys = new float[vocabSize];
        _sortIndices = new int[vocabSize];
    }

    /// <summary>Logits per row.</summary>
    public int VocabSize { get; }

    /// <summary>
    /// Picks a token. Returns it with its log-probability; writes the <paramref name="topLogprobs"/>.Length
    /// most likely tokens (best first) into <paramref name="topLogprobs"/>.
    /// </summary>
    /// <param name="logits">One row of logits, length <see cref="VocabSize"/>.</param>
    /// <param name="parameters">Temperature, top-k, top-p.</param>
    /// <param name="random">The request's random generator (unused when greedy).</param>
    /// <param name="topLogprobs">Where to write the most likely alternatives; may be empty.</param>
    public TokenLogprob Sample(ReadOnlySpan<float> logits, SamplingParameters parameters, Random random, Span<TokenLogprob> topLogprobs = default)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(random);
        if (logits.Length != VocabSize)
        {
            throw new ArgumentException($"Expected {VocabSize} logits, got {logits.Length}.", nameof(logits));
        }

        float max = TensorPrimitives.Max(logits);
        float logSumExp = max + MathF.Log(SumExpShifted(logits, max));
        int chosen = parameters.IsGreedy ? TensorPrimitives.IndexOfMax(logits) : Draw(logits, max, parameters, random);
        if (!topLogprobs.IsEmpty)
        {
            WriteTopLogprobs(logits, logSumExp, topLogprobs);
        }

        return new TokenLogprob(chosen, logits[chosen] - logSumExp);
    }

    private float SumExpShifted(ReadOnlySpan<float> logits, float max)
    {
        var p = _probabilities.AsSpan();
        TensorPrimitives.Subtract(logits, max, p);
        TensorPrimitives.Exp(p, p);
        return TensorPrimitives.Sum(p);
    }

    private int Draw(ReadOnlySpan<float> logits, float max, SamplingParameters parameters, Random random)
    {
        var p = _probabilities.AsSpan();

        // p = exp((logit - max) / T): unnormalised, the largest is 1.
        TensorPrimitives.Subtract(logits, max, p);
        TensorPrimitives.Multiply(p, (float)(1.0 / parameters.Temperature), p);
        TensorPrimitives.Exp(p, p);

        bool truncate = (parameters.TopK > 0 && parameters.TopK < VocabSize) || parameters.TopP < 1.0;
        if (!truncate)
        {
            return DrawFrom(p, TensorPrimitives.Sum(p), random);
        }

        // Sort candidates by probability, best first (keys negated: Sort is ascending).
        var keys = _sortKeys.AsSpan();
        var indices = _sortIndices.AsSpan();
        TensorPrimitives.Negate(p, keys);
        for (int i = 0; i < indices.Length; i++)
        {
            indices[i] = i;
        }

        keys.Sort(indices);
        int kept = parameters.TopK > 0 ? Math.Min(parameters.TopK, VocabSize) : VocabSize;
        double keptMass = 0;
        for (int i = 0; i < kept; i++)
        {
            keptMass -= keys[i];
        }

        if (parameters.TopP < 1.0)
        {
            // Smallest prefix whose share of the (top-k) mass reaches top_p; at least one token.
            double target = parameters.TopP * keptMass;
            double cumulative = 0;
            int n = 0;
            while (n < kept)
            {
                cumulative -= keys[n];
                n++;
                if (cumulative >= target)
                {
                    break;
                }
            }

            kept = n;
            keptMass = cumulative;
        }

        double u = random.NextDouble() * keptMass;
        double acc = 0;
        for (int i = 0; i < kept; i++)
        {
            acc -= keys[i];
            if (u < acc)
            {
                return indices[i];
            }
        }

        return indices[kept - 1];
    }

    private static int DrawFrom(ReadOnlySpan<float> weights, float total, Random random)
    {
        double u = random.NextDouble() * total;
        double acc = 0;
        int last = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            if (weights[i] > 0)
            {
                acc += weights[i];
                last = i;
                if (u < acc)
                {
                    return i;
                }
            }
        }

        return last;
    }

    private static void WriteTopLogprobs(ReadOnlySpan<float> logits, float logSumExp, Span<TokenLogprob> top)
    {
        // Insertion into a short sorted list: top.Length is at most 20, so O(V x 20) worst case.
        int count = Math.Min(top.Length, logits.Length);
        int filled = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float v = logits[i];
            if (filled == count && v <= top[filled - 1].Logprob)
            {
                continue;
            }

            int pos = filled < count ? filled : count - 1;
            while (pos > 0 && top[pos - 1].Logprob < v)
            {
                top[pos] = top[pos - 1];
                pos--;
            }

            top[pos] = new TokenLogprob(i, v);
            if (filled < count)
            {
                filled++;
            }
        }

        for (int i = 0; i < count; i++)
        {
            top[i] = top[i] with { Logprob = top[i].Logprob - logSumExp };
        }
    }
}
