using MoeServe.Runtime.Kernels;

namespace MoeServe.Runtime;

/// <summary>
/// y = x W over the engine's workers: each takes an equal share of W's 32-column strips. Used by the managed dense
/// layers on steps of more tokens than <see cref="SerialRows"/>; fewer run on the calling thread, where a hand-off
/// would cost more than the multiply. One step at a time.
/// </summary>
internal sealed class ParallelHalfMatMul : IHalfMatMulRunner, IWorkBody
{
    /// <summary>Steps of at most this many rows run on the calling thread.</summary>
    public const int SerialRows = 8;

    private readonly WorkerPool _pool;
    private readonly int[] _order;
    private float[] _x = [];
    private float[] _y = [];
    private HalfMatrix? _w;
    private int _rows;

    public ParallelHalfMatMul(WorkerPool pool, int workers)
    {
        _pool = pool;
        _order = Enumerable.Range(0, workers).ToArray();
    }

    public void Multiply(float[] x, int rows, HalfMatrix w, float[] y)
    {
        if (rows <= SerialRows || w.Strips < _order.Length)
        {
            HalfMatMul.Multiply(x, rows, w, y);
            return;
        }

        (_x, _rows, _w, _y) = (x, rows, w, y);
        try
        {
            _pool.Run(this, _order, _order.Length);
        }
        finally
        {
            (_x, _w, _y) = ([], null, []);
        }
    }

    public void Execute(int item, int worker)
    {
        var w = _w!;
        int first = item * w.Strips / _order.Length;
        int next = (item + 1) * w.Strips / _order.Length;
        HalfMatMul.Multiply(_x, _rows, w, _y, first, next - first);
    }
}
