using Microsoft.ML.OnnxRuntime;

namespace MoeServe.Runtime;

/// <summary>Per-worker reusable arrays for one Run's OrtValues and shapes (so a Run allocates only the OrtValue wrappers).</summary>
internal sealed class WorkerSlots
{
    public OrtValue[] DenseIn { get; } = new OrtValue[5];

    public OrtValue[] DenseOut { get; } = new OrtValue[5];

    public OrtValue[] One { get; } = new OrtValue[1];

    public OrtValue[] OneOut { get; } = new OrtValue[1];

    public long[] RowsD { get; } = new long[2];

    public long[] RowsM { get; } = new long[2];

    public long[] Rows { get; } = new long[1];

    public long[] Bias { get; } = new long[2];

    public long[] Past { get; } = new long[3];

    public long[] Present { get; } = new long[3];

    public static void DisposeAll(OrtValue[] values)
    {
        for (int i = 0; i < values.Length; i++)
        {
            values[i]?.Dispose();
            values[i] = null!;
        }
    }
}
