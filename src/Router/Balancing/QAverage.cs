namespace MoeServe.Router;

/// <summary>
/// A running average of a balancing state's q over BIP (or loss-free) updates: the plain mean of the first
/// <see cref="Window"/> updates, then an exponential average with rate 1 / Window. Training folds in the
/// live q after every step; calibration (src/Runtime/Calibration) after every calibration batch: one
/// implementation, so a calibrated q is averaged exactly as a trained one. The live q is the
/// dual of the last few batches and balances held-out text poorly (docs/paper-reproduction.md:
/// MaxVio_global 1.10 with the last q, 0.65 with the mean of the last 1000 steps' q, 0.68 with no q);
/// the average is what training validates with, what export serves and what calibration writes.
/// </summary>
public sealed class QAverage
{
    /// <summary>Default averaging window in steps.</summary>
    public const int DefaultWindow = 500;

    private readonly BalancingState _live;

    /// <summary>Creates an average that starts empty (the first update copies the live q).</summary>
    /// <param name="live">The state training updates.</param>
    /// <param name="window">Averaging window in steps (at least 1).</param>
    public QAverage(BalancingState live, int window = DefaultWindow)
    {
        ArgumentNullException.ThrowIfNull(live);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(window);
        _live = live;
        Window = window;
        State = new BalancingState(live.Method, live.LayerCount, live.Experts);
    }

    /// <summary>The averaging window in steps.</summary>
    public int Window { get; }

    /// <summary>The averaged q per layer.</summary>
    public BalancingState State { get; }

    /// <summary>Folds the live q in after a step.</summary>
    /// <param name="previousUpdates">Updates made before this one (the trainer's step count before the step).</param>
    public void Update(long previousUpdates)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(previousUpdates);
        float rate = 1f / Math.Min(previousUpdates + 1, Window);
        for (int l = 0; l < _live.LayerCount; l++)
        {
            float[] q = _live.Layer(l);
            float[] average = State.Layer(l);
            for (int j = 0; j < q.Length; j++)
            {
                average[j] += rate * (q[j] - average[j]);
            }
        }
    }

    /// <summary>Replaces the average with <paramref name="saved"/> (resume).</summary>
    /// <param name="saved">A state of the same shape.</param>
    public void Restore(BalancingState saved)
    {
        ArgumentNullException.ThrowIfNull(saved);
        if (saved.LayerCount != State.LayerCount || saved.Experts != State.Experts)
        {
            throw new InvalidDataException($"The averaged balancing state has {saved.LayerCount} layers x {saved.Experts} experts; the model has {State.LayerCount} x {State.Experts}.");
        }

        for (int l = 0; l < saved.LayerCount; l++)
        {
            saved.Layer(l).CopyTo(State.Layer(l), 0);
        }
    }
}
