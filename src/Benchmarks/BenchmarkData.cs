using MoeServe.Router;

namespace MoeServe.Benchmarks;

/// <summary>Seeded synthetic router scores (the simulation's softmax workload).</summary>
internal static class BenchmarkData
{
    public static float[] SoftmaxScores(int tokens, int experts, int seed)
    {
        var random = new Random(seed);
        var bias = new float[experts];
        for (int j = 0; j < experts; j++)
        {
            bias[j] = (float)Normal(random);
        }

        var logits = new float[tokens * experts];
        for (int i = 0; i < logits.Length; i++)
        {
            logits[i] = (float)Normal(random) + bias[i % experts];
        }

        var scores = new float[logits.Length];
        RouterScores.Compute(logits, scores, experts, ScoreFunction.Softmax);
        return scores;
    }

    private static double Normal(Random random)
    {
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
