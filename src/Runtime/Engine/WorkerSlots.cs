using Microsoft.ML.OnnxRuntime;

namespace MoeServe.Runtime;

/// <summary>Per-worker reusable arrays for one Run's OrtValues and shapes (so a Run allocates only the OrtValue wrappers).</summary>
internal sealed class WorkerSlots(int contextLength)
{
    public OrtValue[] PairIn { get; } = new OrtValue[2];

    public OrtValue[] TripleOut { get; } = new OrtValue[3];

    public OrtValue[] One { get; } = new OrtValue[1];

    public OrtValue[] OneOut { get; } = new OrtValue[1];

    public long[] RowsD { get; } = new long[2];

    public long[] RowsM { get; } = new long[2];

    public long[] Rows { get; } = new long[1];

    public long[] RowsHeads { get; } = new long[3];

    /// <summary>Attention scratch: one query's scores over the positions it sees.</summary>
    public float[] Scores { get; } = new float[contextLength];

    /// <summary>Attention scratch: the softmax of <see cref="Scores"/>.</summary>
    public float[] Probabilities { get; } = new float[contextLength];

    public static void DisposeAll(OrtValue[] values)
    {
        for (int i = 0; i < values.Length; i++)
        {
            values[i]?.Dispose();
            values[i] = null!;
        }
    }
}
