using MoeServe.Runtime.Kernels;

namespace MoeServe.Runtime;

/// <summary>
/// y = x W over the engine's workers: each takes an equal share of W's units (strips or panels of output columns).
/// Used by the managed dense layers on steps of more tokens than <see cref="SerialRows"/>, or on any step when W is
/// large (<see cref="LargeWeights"/>: streaming it is the cost, and two cores stream faster than one); the rest run on
/// the calling thread, where a hand-off would cost more than the multiply. One step at a time.
/// </summary>
internal sealed class ParallelMatMul : IMatMulRunner, IWorkBody
{
    /// <summary>Steps of at most this many rows over a small W run on the calling thread.</summary>
    public const int SerialRows = 8;

    /// <summary>Weights (Inputs x Outputs) from which every step is split: an OLMoE projection, not models/default's.</summary>
    public const long LargeWeights = 1 << 22;

    private readonly WorkerPool _pool;
    private readonly int[] _order;
    private float[] _x = [];
    private float[] _y = [];
    private IProjection? _w;
    private int _rows;

    public ParallelMatMul(WorkerPool pool, int workers)
    {
        _pool = pool;
        _order = Enumerable.Range(0, workers).ToArray();
    }

    public void Multiply(float[] x, int rows, IProjection w, float[] y)
    {
        bool large = (long)w.Inputs * w.Outputs >= LargeWeights;
        if ((rows <= SerialRows && !large) || w.Units < _order.Length)
        {
            SerialMatMul.Instance.Multiply(x, rows, w, y);
            return;
        }

        w.Prepare(x, rows);
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
        int first = item * w.Units / _order.Length;
        int next = (item + 1) * w.Units / _order.Length;
        w.Multiply(_x, _rows, _y, first, next - first);
    }
}
