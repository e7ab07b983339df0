using System.Buffers;

namespace MoeServe.Router;

/// <summary>
/// Hard capacity: after top-K selection, no expert keeps more than <c>capacity</c> tokens. An
/// over-full expert keeps the tokens with the highest key s - q_j (equivalently the highest s) and
/// each evicted slot moves to its token's next-best expert that still has room. When every expert
/// with room is already one of the token's experts, one swap with another token frees a slot (always
/// possible when m * capacity &gt;= n * k), so no token is ever dropped.
/// </summary>
internal static class CapacityEnforcer
{
    public static void Enforce(ReadOnlySpan<float> scores, ReadOnlySpan<float> q, RoutingShape shape, int capacity, Span<int> experts)
    {
        int n = shape.Tokens;
        int m = shape.Experts;
        int k = shape.TopK;
        int nk = shape.AssignmentLength;

        int[] loads = ArrayPool<int>.Shared.Rent(m);
        int[] offsets = ArrayPool<int>.Shared.Rent(m + 1);
        int[] slots = ArrayPool<int>.Shared.Rent(nk);
        float[] keys = ArrayPool<float>.Shared.Rent(nk);
        try
        {
            Span<int> load = loads.AsSpan(0, m);
            load.Clear();
            bool overfull = false;
            foreach (int e in experts)
            {
                overfull |= ++load[e] > capacity;
            }

            if (!overfull)
            {
                return;
            }

            // Expert-major slot lists (a counting sort), then evict the weakest slots of over-full experts.
            Span<int> off = offsets.AsSpan(0, m + 1);
            off[0] = 0;
            for (int j = 0; j < m; j++)
            {
                off[j + 1] = off[j] + load[j];
            }

            int[] cursorArray = ArrayPool<int>.Shared.Rent(m);
            try
            {
                off[..m].CopyTo(cursorArray);
                for (int slot = 0; slot < nk; slot++)
                {
                    slots[cursorArray[experts[slot]]++] = slot;
                }
            }
            finally
            {
                ArrayPool<int>.Shared.Return(cursorArray);
            }

            for (int j = 0; j < m; j++)
            {
                if (load[j] <= capacity)
                {
                    continue;
                }

                Span<int> list = slots.AsSpan(off[j], load[j]);
                Span<float> listKeys = keys.AsSpan(off[j], load[j]);
                for (int t = 0; t < list.Length; t++)
                {
                    // Negated so an ascending sort puts the strongest first.
                    listKeys[t] = -scores[(list[t] / k * m) + j];
                }

                listKeys.Sort(list);
                for (int t = capacity; t < list.Length; t++)
                {
                    experts[list[t]] = -1;
                }

                load[j] = capacity;
            }

            // Refill evicted slots in token order.
            for (int slot = 0; slot < nk; slot++)
            {
                if (experts[slot] < 0)
                {
                    Refill(scores, q, shape, capacity, experts, load, slot);
                }
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(loads);
            ArrayPool<int>.Shared.Return(offsets);
            ArrayPool<int>.Shared.Return(slots);
            ArrayPool<float>.Shared.Return(keys);
        }
    }

    private static void Refill(ReadOnlySpan<float> scores, ReadOnlySpan<float> q, RoutingShape shape, int capacity, Span<int> experts, Span<int> load, int slot)
    {
        int m = shape.Experts;
        int k = shape.TopK;
        int token = slot / k;
        ReadOnlySpan<float> row = scores.Slice(token * m, m);
        Span<int> own = experts.Slice(token * k, k);

        int bestWithRoom = -1;
        int bestAny = -1;
        float bestWithRoomKey = float.NegativeInfinity;
        float bestAnyKey = float.NegativeInfinity;
        for (int j = 0; j < m; j++)
        {
            if (own.Contains(j))
            {
                continue;
            }

            float key = q.IsEmpty ? row[j] : row[j] - q[j];
            if (bestAny < 0 || key > bestAnyKey)
            {
                bestAny = j;
                bestAnyKey = key;
            }

            if (load[j] < capacity && (bestWithRoom < 0 || key > bestWithRoomKey))
            {
                bestWithRoom = j;
                bestWithRoomKey = key;
            }
        }

        if (bestWithRoom >= 0)
        {
            experts[slot] = bestWithRoom;
            load[bestWithRoom]++;
            return;
        }

        // Every expert with room is already one of this token's: hand this token the best full expert E
        // and move another holder of E to an expert F with room that it does not hold yet.
        int full = bestAny;
        for (int f = 0; f < m; f++)
        {
            if (load[f] >= capacity)
            {
                continue;
            }

            for (int other = 0; other < experts.Length; other++)
            {
                if (experts[other] != full)
                {
                    continue;
                }

                int otherToken = other / k;
                if (experts.Slice(otherToken * k, k).Contains(f))
                {
                    continue;
                }

                experts[other] = f;
                load[f]++;
                experts[slot] = full;
                return;
            }
        }

        // Unreachable when m * capacity >= n * k; still never drop the token.
        experts[slot] = full;
        load[full]++;
    }
}
