using System.Diagnostics;
using System.Globalization;

using MoeServe.Runtime.Attention;

namespace MoeServe.Benchmarks;

/// <summary>
/// The attention kernel (<see cref="HeadAttention"/>) over float32 and float16 KV caches shaped like
/// models/default's (4 layers, 8 heads of 32 channels, context 256), one decode step of every sequence
/// on one thread, the two cache types in interleaved rounds (medians and minima, so a shared machine's
/// load falls on both alike). Before every timed step 64 MB are written, as the expert phase does
/// between two steps' attention, so the caches start cold the way they do in the engine. Run with
/// <c>dotnet run --project src/Benchmarks -c Release -- attention [sequences,...] [visible] [rounds] [olmoe]</c>.
/// </summary>
internal static class AttentionProbe
{
    public static void Run(int[] sequenceCounts, int visible, int rounds, bool olmoe)
    {
        var (headDim, heads, layers, capacity) = olmoe ? (128, 16, 16, 512) : (32, 8, 4, 256);
        byte[] evict = new byte[64 << 20];
        int stride = HeadAttention.PaddedCapacity(capacity) * headDim;
        var random = new Random(1);
        float[] query = Enumerable.Range(0, headDim).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
        float[] output = new float[headDim];
        float scale = 1f / MathF.Sqrt(headDim);
        Console.WriteLine($"attention probe: {(olmoe ? "OLMoE-1B-7B's shape, " : string.Empty)}{layers} layers x {heads} heads x {headDim} channels, {visible}-{visible + 16} positions, context {capacity}, one thread, {rounds} interleaved rounds");
        foreach (int n in sequenceCounts)
        {
            var keys32 = new float[n * layers][];
            var values32 = new float[n * layers][];
            var keys16 = new Half[n * layers][];
            var values16 = new Half[n * layers][];
            for (int i = 0; i < n * layers; i++)
            {
                keys32[i] = new float[heads * stride];
                values32[i] = new float[heads * stride];
                keys16[i] = new Half[heads * stride];
                values16[i] = new Half[heads * stride];
                // The positions a query sees (keys tiled, so the first whole tiles); the rest stays zero.
                int used = Math.Min(HeadAttention.PaddedCapacity(visible + 17), capacity) * headDim;
                for (int h = 0; h < heads; h++)
                {
                    for (int j = h * stride; j < (h * stride) + used; j++)
                    {
                        keys32[i][j] = (float)((random.NextDouble() * 2) - 1);
                        values32[i][j] = (float)((random.NextDouble() * 2) - 1);
                        keys16[i][j] = HalfVectors.Encode(keys32[i][j]);
                        values16[i][j] = HalfVectors.Encode(values32[i][j]);
                    }
                }
            }

            var times = new[] { new List<double>(), new List<double>() };
            for (int round = 0; round <= rounds; round++)
            {
                for (int variant = 0; variant < 2; variant++)
                {
                    Array.Fill(evict, (byte)round);
                    long start = Stopwatch.GetTimestamp();
                    for (int layer = 0; layer < layers; layer++)
                    {
                        for (int s = 0; s < n; s++)
                        {
                            int cache = (s * layers) + layer;
                            int seen = visible + (s % 17);
                            for (int h = 0; h < heads; h++)
                            {
                                if (variant == 0)
                                {
                                    HeadAttention.Compute<float>(keys32[cache].AsSpan(h * stride, stride), values32[cache].AsSpan(h * stride, stride), seen, query, scale, output);
                                }
                                else
                                {
                                    HeadAttention.Compute<Half>(keys16[cache].AsSpan(h * stride, stride), values16[cache].AsSpan(h * stride, stride), seen, query, scale, output);
                                }
                            }
                        }
                    }

                    if (round > 0)
                    {
                        // Round 0 warms up (and compiles) both.
                        times[variant].Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                    }
                }
            }

            double m32 = ProbeStatistics.Median(times[0]);
            double m16 = ProbeStatistics.Median(times[1]);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{n,5} sequences: ms per step, median (min): float32 {m32:F3} ({times[0].Min():F3}), float16 {m16:F3} ({times[1].Min():F3}); float16 faster by {m32 / m16:F2}x ({times[0].Min() / times[1].Min():F2}x)"));
        }
    }
}
