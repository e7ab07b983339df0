using System.Numerics.Tensors;

namespace MoeServe.Router;

/// <summary>Turns router logits into router scores. Stateless and thread-safe.</summary>
public static class RouterScores
{
    /// <summary>
    /// Computes scores from logits, both row-major [tokens, experts]. <paramref name="scores"/> may
    /// be the same memory as <paramref name="logits"/> (in-place).
    /// </summary>
    /// <param name="logits">Router logits, length tokens * experts.</param>
    /// <param name="scores">Destination, same length as <paramref name="logits"/>.</param>
    /// <param name="experts">Number of experts m (row length).</param>
    /// <param name="function">Softmax per row, or element-wise sigmoid.</param>
    public static void Compute(ReadOnlySpan<float> logits, Span<float> scores, int experts, ScoreFunction function)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(experts, 1);
        if (logits.Length % experts != 0)
        {
            throw new ArgumentException($"logits length {logits.Length} is not a multiple of experts {experts}.", nameof(logits));
        }

        if (scores.Length != logits.Length)
        {
            throw new ArgumentException($"scores length {scores.Length} differs from logits length {logits.Length}.", nameof(scores));
        }

        switch (function)
        {
            case ScoreFunction.Softmax:
                for (int row = 0; row < logits.Length; row += experts)
                {
                    TensorPrimitives.SoftMax(logits.Slice(row, experts), scores.Slice(row, experts));
                }

                break;
            case ScoreFunction.Sigmoid:
                TensorPrimitives.Sigmoid(logits, scores);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(function), function, "Unknown score function.");
        }
    }
}
