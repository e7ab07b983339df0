namespace MoeServe.Import.Tests.Support;

/// <summary>Comparisons of logits.</summary>
public static class Numerics
{
    public static double MaxAbs(IReadOnlyList<float> a) => a.Max(x => Math.Abs((double)x));

    public static double MaxAbsDiff(IReadOnlyList<float> a, IReadOnlyList<float> b) =>
        a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();

    public static int ArgMax(IReadOnlyList<float> a)
    {
        int best = 0;
        for (int i = 1; i < a.Count; i++)
        {
            if (a[i] > a[best])
            {
                best = i;
            }
        }
        return best;
    }

    public static double LogSumExp(IReadOnlyList<float> a)
    {
        double max = a.Max();
        return max + Math.Log(a.Sum(x => Math.Exp(x - max)));
    }

    /// <summary>exp(mean over positions i &lt; n-1 of logsumexp(logits[i]) - logits[i][ids[i+1]]).</summary>
    public static double Perplexity(float[][] logits, int[] ids)
    {
        double sum = 0;
        for (int i = 0; i + 1 < ids.Length; i++)
        {
            sum += LogSumExp(logits[i]) - logits[i][ids[i + 1]];
        }
        return Math.Exp(sum / (ids.Length - 1));
    }

    /// <summary>Per position: max |a - b| / max |a| at that position.</summary>
    public static double[] RelativePerPosition(float[][] expected, float[][] actual) =>
        expected.Select((e, i) => MaxAbsDiff(e, actual[i]) / MaxAbs(e)).ToArray();

    /// <summary>The median of <paramref name="values"/>.</summary>
    public static double Median(IEnumerable<double> values)
    {
        double[] v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    /// <summary>max |a - b| / max |a| over all positions.</summary>
    public static double Relative(float[][] expected, float[][] actual)
    {
        double diff = 0;
        double max = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            diff = Math.Max(diff, MaxAbsDiff(expected[i], actual[i]));
            max = Math.Max(max, MaxAbs(expected[i]));
        }
        return diff / max;
    }
}

/// <summary>JSON numbers whatever CLR type built them (int, long, double, or parsed text).</summary>
public static class Json
{
    public static long Long(System.Text.Json.Nodes.JsonNode? node) =>
        long.Parse(node?.ToJsonString() ?? throw new ArgumentNullException(nameof(node)), System.Globalization.CultureInfo.InvariantCulture);

    public static double Double(System.Text.Json.Nodes.JsonNode? node) =>
        double.Parse(node?.ToJsonString() ?? throw new ArgumentNullException(nameof(node)), System.Globalization.CultureInfo.InvariantCulture);
}
