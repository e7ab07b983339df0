using Microsoft.ML.OnnxRuntime;
using MoeServe.Runtime.Kernels;

namespace MoeServe.Runtime;

/// <summary>Per-worker reusable arrays for one Run's OrtValues and shapes (so a Run allocates only the OrtValue wrappers).</summary>
internal sealed class WorkerSlots
{
    public OrtValue[] PairIn { get; } = new OrtValue[2];

    public OrtValue[] TripleOut { get; } = new OrtValue[3];

    public OrtValue[] One { get; } = new OrtValue[1];

    public OrtValue[] OneOut { get; } = new OrtValue[1];

    public long[] RowsD { get; } = new long[2];

    public long[] Rows { get; } = new long[1];

    public long[] RowsHeads { get; } = new long[3];

    /// <summary>Buffers for experts run in managed code.</summary>
    public ManagedExpertScratch Experts { get; } = new();

    /// <summary>The input array of a Run with <paramref name="count"/> inputs (1 or 2).</summary>
    public OrtValue[] Inputs(int count) => count switch
    {
        1 => One,
        2 => PairIn,
        _ => throw new ArgumentOutOfRangeException(nameof(count), count, "Graphs take one or two inputs."),
    };

    /// <summary>The output array of a Run with <paramref name="count"/> outputs (1 or 3).</summary>
    public OrtValue[] Outputs(int count) => count switch
    {
        1 => OneOut,
        3 => TripleOut,
        _ => throw new ArgumentOutOfRangeException(nameof(count), count, "Graphs give one or three outputs."),
    };

    public static void DisposeAll(OrtValue[] values)
    {
        for (int i = 0; i < values.Length; i++)
        {
            values[i]?.Dispose();
            values[i] = null!;
        }
    }
}
