using MoeServe.Router;

namespace MoeServe.Cli.Commands;

/// <summary>The synthetic score distributions of the simulation.</summary>
internal enum SimulateWorkloadKind
{
    /// <summary>s[i,j] = u[i,j] + v[j], u ~ U(0,1) per token, v ~ U(0,1) per expert once per run.</summary>
    Uniform,

    /// <summary>s = softmax(z + b), z ~ N(0,1) per token, b ~ N(0,1) per expert once per run.</summary>
    Softmax,
}

/// <summary>
/// Generates batches of router scores. The per-expert offsets (the "hot" experts) are drawn once
/// from the seeded generator; every batch draws fresh per-token noise. Two workloads built with the
/// same seed produce the same batches, so policies are compared on identical inputs.
/// </summary>
internal sealed class SimulateWorkload
{
    private readonly SimulateWorkloadKind _kind;
    private readonly int _experts;
    private readonly Random _random;
    private readonly float[] _expertOffsets;

    public SimulateWorkload(SimulateWorkloadKind kind, int experts, int seed)
    {
        _kind = kind;
        _experts = experts;
        _random = new Random(seed);
        _expertOffsets = new float[experts];
        for (int j = 0; j < experts; j++)
        {
            _expertOffsets[j] = kind == SimulateWorkloadKind.Uniform ? _random.NextSingle() : (float)Normal(_random);
        }
    }

    /// <summary>Fills one batch of scores, row-major [tokens, experts].</summary>
    public void NextBatch(Span<float> scores)
    {
        for (int i = 0; i < scores.Length; i++)
        {
            int j = i % _experts;
            scores[i] = _kind == SimulateWorkloadKind.Uniform
                ? _random.NextSingle() + _expertOffsets[j]
                : (float)Normal(_random) + _expertOffsets[j];
        }

        if (_kind == SimulateWorkloadKind.Softmax)
        {
            RouterScores.Compute(scores, scores, _experts, ScoreFunction.Softmax);
        }
    }

    // Box-Muller; one draw per call keeps the stream simple and reproducible.
    private static double Normal(Random random)
    {
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
