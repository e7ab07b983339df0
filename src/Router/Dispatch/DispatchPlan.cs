namespace MoeServe.Router;

/// <summary>
/// The expert-major view of a routed batch: for each expert the contiguous list of (token index, gate)
/// routed to it, with counts and offsets (the layout a per-expert batched kernel wants). Built in
/// O(n k) by a counting sort into buffers the plan owns and reuses: after the first batch of a given
/// size, <see cref="Build"/> allocates nothing. Within an expert, tokens are in ascending order.
/// </summary>
/// <remarks>Not thread-safe: one plan per worker.</remarks>
public sealed class DispatchPlan
{
    private int[] _counts = [];
    private int[] _offsets = [0];
    private int[] _tokens = [];
    private int[] _slots = [];
    private float[] _gates = [];

    /// <summary>Experts of the last built batch.</summary>
    public int Experts { get; private set; }

    /// <summary>Assignments (n * k) of the last built batch.</summary>
    public int Assignments { get; private set; }

    /// <summary>Tokens routed to each expert, length m.</summary>
    public ReadOnlySpan<int> Counts => _counts.AsSpan(0, Experts);

    /// <summary>Start of each expert's range, length m + 1 (the last entry is n * k).</summary>
    public ReadOnlySpan<int> Offsets => _offsets.AsSpan(0, Experts + 1);

    /// <summary>Token indices, expert-major, length n * k.</summary>
    public ReadOnlySpan<int> TokenIndices => _tokens.AsSpan(0, Assignments);

    /// <summary>The token-major slot (token * k + rank) of each entry, expert-major, length n * k.</summary>
    public ReadOnlySpan<int> Slots => _slots.AsSpan(0, Assignments);

    /// <summary>Gate weights, expert-major, length n * k.</summary>
    public ReadOnlySpan<float> Gates => _gates.AsSpan(0, Assignments);

    /// <summary>The tokens routed to one expert.</summary>
    /// <param name="expert">Expert index.</param>
    public ReadOnlySpan<int> TokensOf(int expert) => _tokens.AsSpan(_offsets[expert], _counts[expert]);

    /// <summary>The gate weights of the tokens routed to one expert (parallel to <see cref="TokensOf"/>).</summary>
    /// <param name="expert">Expert index.</param>
    public ReadOnlySpan<float> GatesOf(int expert) => _gates.AsSpan(_offsets[expert], _counts[expert]);

    /// <summary>Builds the plan from a policy's token-major output.</summary>
    /// <param name="experts">Chosen experts, token-major [n * k].</param>
    /// <param name="gates">Gate weights, token-major [n * k].</param>
    /// <param name="shape">n, m, k of the batch.</param>
    public void Build(ReadOnlySpan<int> experts, ReadOnlySpan<float> gates, RoutingShape shape)
    {
        shape.Validate(shape.ScoreLength, experts.Length, gates.Length);
        int m = shape.Experts;
        int k = shape.TopK;
        int nk = shape.AssignmentLength;
        EnsureCapacity(m, nk);
        Experts = m;
        Assignments = nk;

        Span<int> counts = _counts.AsSpan(0, m);
        counts.Clear();
        foreach (int e in experts)
        {
            if ((uint)e >= (uint)m)
            {
                throw new ArgumentOutOfRangeException(nameof(experts), e, $"Expert index must be in [0, {m}).");
            }

            counts[e]++;
        }

        Span<int> offsets = _offsets.AsSpan(0, m + 1);
        offsets[0] = 0;
        for (int j = 0; j < m; j++)
        {
            offsets[j + 1] = offsets[j] + counts[j];
        }

        // Reuse counts as write cursors, then restore them from the offsets.
        offsets[..m].CopyTo(counts);
        for (int slot = 0; slot < nk; slot++)
        {
            int pos = counts[experts[slot]]++;
            _tokens[pos] = slot / k;
            _slots[pos] = slot;
            _gates[pos] = gates[slot];
        }

        for (int j = 0; j < m; j++)
        {
            counts[j] = offsets[j + 1] - offsets[j];
        }
    }

    private void EnsureCapacity(int experts, int assignments)
    {
        if (_counts.Length < experts)
        {
            _counts = new int[experts];
            _offsets = new int[experts + 1];
        }

        if (_tokens.Length < assignments)
        {
            _tokens = new int[assignments];
            _slots = new int[assignments];
            _gates = new float[assignments];
        }
    }
}
