namespace MoeServe.Router;

/// <summary>Order statistics by selection (expected O(n), no full sort). Works in place on scratch.</summary>
internal static class OrderStatistics
{
    /// <summary>The r-th largest value (r is 1-based). Reorders <paramref name="values"/>.</summary>
    public static float KthLargest(Span<float> values, int r)
    {
        // The r-th largest is the (len - r)-th smallest (0-based).
        return NthSmallest(values, values.Length - r);
    }

    /// <summary>
    /// Linearly interpolated quantile at <paramref name="level"/> in [0, 1] (the numpy "linear"
    /// definition). Reorders <paramref name="values"/>.
    /// </summary>
    public static float Quantile(Span<float> values, double level)
    {
        double h = level * (values.Length - 1);
        int lo = (int)Math.Floor(h);
        return Interpolated(values, lo, (float)(h - lo));
    }

    /// <summary>
    /// The value <paramref name="fraction"/> of the way from the <paramref name="index"/>-th smallest to the next
    /// one (0-based). Reorders <paramref name="values"/>.
    /// </summary>
    public static float Interpolated(Span<float> values, int index, float fraction)
    {
        float low = NthSmallest(values, index);
        if (fraction == 0f || index + 1 >= values.Length)
        {
            return low;
        }

        // After selecting index, everything right of it is >= it: the next order statistic is their minimum.
        float high = float.PositiveInfinity;
        foreach (float v in values[(index + 1)..])
        {
            high = Math.Min(high, v);
        }

        return low + (fraction * (high - low));
    }

    /// <summary>The element that would sit at <paramref name="index"/> after an ascending sort.</summary>
    public static float NthSmallest(Span<float> values, int index)
    {
        int left = 0;
        int right = values.Length - 1;
        while (right > left)
        {
            if (right - left < 16)
            {
                InsertionSort(values[left..(right + 1)]);
                return values[index];
            }

            // Median of three as pivot, then a Hoare partition.
            int mid = left + ((right - left) >> 1);
            float a = values[left];
            float b = values[mid];
            float c = values[right];
            float pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
            int i = left;
            int j = right;
            while (i <= j)
            {
                while (values[i] < pivot)
                {
                    i++;
                }

                while (values[j] > pivot)
                {
                    j--;
                }

                if (i <= j)
                {
                    (values[i], values[j]) = (values[j], values[i]);
                    i++;
                    j--;
                }
            }

            if (index <= j)
            {
                right = j;
            }
            else if (index >= i)
            {
                left = i;
            }
            else
            {
                return values[index];
            }
        }

        return values[index];
    }

    private static void InsertionSort(Span<float> values)
    {
        for (int i = 1; i < values.Length; i++)
        {
            float v = values[i];
            int j = i - 1;
            while (j >= 0 && values[j] > v)
            {
                values[j + 1] = values[j];
                j--;
            }

            values[j + 1] = v;
        }
    }
}
