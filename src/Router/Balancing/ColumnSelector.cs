using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MoeServe.Router;

/// <summary>
/// Per-expert order statistics of the columns of s - p (the BIP q-step), exact, without a full
/// selection per column in the common case. Each expert keeps a bracket around its previous value;
/// one row-major vector pass counts, per expert, the values above the bracket and copies the few
/// inside it; the wanted order statistic is then selected among those few. An expert whose value
/// left its bracket (or the first call) falls back to gathering its whole column and selecting in it,
/// and widens its bracket. Brackets shrink geometrically while the values are stable. Brackets are
/// kept per slot (the BIP iteration index), because iteration t of a batch moves like iteration t of
/// the previous batch, not like iteration t - 1 of the same batch.
/// </summary>
/// <remarks>Owned by one balancer; not thread-safe.</remarks>
internal sealed class ColumnSelector
{
    private float[][] _guesses = [];
    private float[][] _widths = [];
    private float[] _guess = [];
    private float[] _width = [];
    private int[] _above = [];
    private int[] _bandCount = [];
    private float[] _band = [];
    private float[] _column = [];
    private float[] _hi = [];
    private float[] _lo = [];
    private int[] _tokensPerSlot = [];
    private int _tokens = -1;

    /// <summary>Columns answered from their bracket in the last call (for tests and tuning).</summary>
    public int LastHits { get; private set; }

    /// <summary>
    /// For each expert j, the value at ascending position <paramref name="ascIndex"/> of the column
    /// {s[i,j] - p[i]}, linearly interpolated toward the next one by <paramref name="fraction"/>.
    /// </summary>
    /// <param name="scores">Scores, row-major [n, m].</param>
    /// <param name="p">Token duals, length n.</param>
    /// <param name="shape">n, m, k.</param>
    /// <param name="ascIndex">Ascending position of the wanted order statistic.</param>
    /// <param name="fraction">Interpolation toward the next position (0 for an exact order statistic).</param>
    /// <param name="result">Output, length m.</param>
    /// <param name="slot">Which bracket set to use (the iteration index).</param>
    /// <param name="clipAtZero">
    /// The caller clips results at 0: a column whose last value was not positive only needs to know
    /// whether it is still not positive (a sign test: no band to fill), and then reports 0.
    /// </param>
    public void Compute(ReadOnlySpan<float> scores, ReadOnlySpan<float> p, RoutingShape shape, int ascIndex, float fraction, Span<float> result, int slot = 0, bool clipAtZero = false)
    {
        int n = shape.Tokens;
        int m = shape.Experts;
        Ensure(n, m, slot);
        _guess = _guesses[slot];
        _width = _widths[slot];
        _tokens = _tokensPerSlot[slot];

        bool vectorPath = Vector256.IsHardwareAccelerated && m % 8 == 0;
        // Brackets carry over between batch sizes too: a column's quantile at a fixed level barely
        // depends on n. The very first call of a slot has no bracket and selects every column in full.
        if (_tokens > 0 && vectorPath)
        {
            BandPass(scores, p, n, m, clipAtZero);
        }
        else
        {
            _above.AsSpan(0, m).Fill(-1); // mark every column as a miss
        }

        _tokensPerSlot[slot] = n;
        int hits = 0;
        int needLow = n - ascIndex - (fraction > 0f && ascIndex + 1 < n ? 1 : 0); // smallest descending rank needed
        int needHigh = n - ascIndex; // largest descending rank needed
        for (int j = 0; j < m; j++)
        {
            int above = _above[j];
            int band = _bandCount[j];
            float value;
            if (clipAtZero && above >= 0 && _guess[j] <= 0f && above < needLow)
            {
                // Sign test passed: fewer than the needed ranks are above 0, so the clipped result is 0.
                result[j] = 0f;
                hits++;
                continue;
            }

            if (above >= 0 && above < needLow && above + band >= needHigh && !(clipAtZero && _guess[j] <= 0f))
            {
                Span<float> values = _band.AsSpan(j * n, band);
                value = OrderStatistics.Interpolated(values, band - n + ascIndex + above, fraction);
                hits++;
            }
            else
            {
                Span<float> column = _column.AsSpan(0, n);
                for (int i = 0; i < n; i++)
                {
                    column[i] = scores[(i * m) + j] - p[i];
                }

                value = OrderStatistics.Interpolated(column, ascIndex, fraction);
            }

            float previous = _guess[j];
            float change = float.IsFinite(previous) ? Math.Abs(value - previous) : float.PositiveInfinity;
            bool missed = !(above >= 0 && above < needLow && above + band >= needHigh) || (clipAtZero && previous <= 0f);
            float floor = 1e-7f * (Math.Abs(value) + 1e-3f);
            float width = missed
                ? Math.Max(4f * _width[j], 3f * (float.IsFinite(change) ? change : Math.Abs(value) * 0.01f))
                : Math.Max(16f * change, 0.9f * _width[j]);
            _width[j] = Math.Max(width, floor);
            _guess[j] = value;
            result[j] = value;
        }

        LastHits = hits;
    }

    private void BandPass(ReadOnlySpan<float> scores, ReadOnlySpan<float> p, int n, int m, bool clipAtZero)
    {
        for (int j = 0; j < m; j++)
        {
            bool signTest = clipAtZero && _guess[j] <= 0f;
            _hi[j] = signTest ? 0f : _guess[j] + _width[j];
            _lo[j] = signTest ? 0f : _guess[j] - _width[j];
        }

        Span<int> bandCount = _bandCount.AsSpan(0, m);
        bandCount.Clear();
        int blocks = m / 8;
        Span<Vector256<int>> aboveAcc = stackalloc Vector256<int>[blocks];
        aboveAcc.Clear();
        ref float s0 = ref Unsafe.AsRef(in scores[0]);
        ref float hi0 = ref _hi[0];
        ref float lo0 = ref _lo[0];
        float[] bandBuffer = _band;
        for (int i = 0; i < n; i++)
        {
            float pi = p[i];
            var vp = Vector256.Create(pi);
            nuint rowStart = (nuint)(i * m);
            for (int b = 0; b < blocks; b++)
            {
                Vector256<float> v = Vector256.LoadUnsafe(ref s0, rowStart + (nuint)(b * 8)) - vp;
                Vector256<float> gt = Vector256.GreaterThan(v, Vector256.LoadUnsafe(ref hi0, (nuint)(b * 8)));
                aboveAcc[b] -= gt.AsInt32();
                Vector256<float> inBand = Vector256.AndNot(Vector256.GreaterThan(v, Vector256.LoadUnsafe(ref lo0, (nuint)(b * 8))), gt);
                uint bits = inBand.ExtractMostSignificantBits();
                while (bits != 0)
                {
                    int lane = BitOperations.TrailingZeroCount(bits);
                    int j = (b * 8) + lane;
                    bandBuffer[(j * n) + bandCount[j]++] = scores[(i * m) + j] - pi;
                    bits &= bits - 1;
                }
            }
        }

        for (int b = 0; b < blocks; b++)
        {
            aboveAcc[b].CopyTo(_above, b * 8);
        }
    }

    private void Ensure(int n, int m, int slot)
    {
        if (_hi.Length != m)
        {
            _guesses = [];
            _widths = [];
            _tokensPerSlot = [];
            _above = new int[m];
            _bandCount = new int[m];
            _hi = new float[m];
            _lo = new float[m];
        }

        while (_guesses.Length <= slot)
        {
            var guess = new float[m];
            guess.AsSpan().Fill(float.NaN);
            _guesses = [.. _guesses, guess];
            _widths = [.. _widths, new float[m]];
            _tokensPerSlot = [.. _tokensPerSlot, -1];
        }

        if (_band.Length < n * m)
        {
            _band = new float[n * m];
        }

        if (_column.Length < n)
        {
            _column = new float[n];
        }
    }
}
