namespace MoeServe.Router.Tests.Support;

/// <summary>Small seeded score matrices for tests.</summary>
internal static class Workloads
{
    public static float[] Softmax(int tokens, int experts, int seed, double expertSpread = 1.0) =>
        Softmax(tokens, experts, seed, seed, expertSpread);

    /// <summary>Softmax scores whose per-expert bias comes from <paramref name="biasSeed"/> (fixed across batches).</summary>
    public static float[] Softmax(int tokens, int experts, int biasSeed, int noiseSeed, double expertSpread = 1.0)
    {
        var biasRng = new Random(biasSeed);
        var rng = noiseSeed == biasSeed ? biasRng : new Random(noiseSeed);
        var bias = new float[experts];
        for (int j = 0; j < experts; j++)
        {
            bias[j] = (float)(Normal(biasRng) * expertSpread);
        }

        var logits = new float[tokens * experts];
        for (int i = 0; i < tokens; i++)
        {
            for (int j = 0; j < experts; j++)
            {
                logits[(i * experts) + j] = (float)Normal(rng) + bias[j];
            }
        }

        var scores = new float[logits.Length];
        RouterScores.Compute(logits, scores, experts, ScoreFunction.Softmax);
        return scores;
    }

    public static float[] Uniform(int tokens, int experts, int seed)
    {
        var rng = new Random(seed);
        var v = new float[experts];
        for (int j = 0; j < experts; j++)
        {
            v[j] = rng.NextSingle();
        }

        var s = new float[tokens * experts];
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = rng.NextSingle() + v[i % experts];
        }

        return s;
    }

    public static double Normal(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble();
        double u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
