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
/// <c>dotnet run --project src/Benchmarks -c Release -- attention [sequences,...] [visible] [rounds]</c>.
/// </summary>
internal static class AttentionProbe
{
    private const int HeadDim = 32;
    private const int Heads = 8;
    private const int Layers = 4;
    private const int Capacity = 256;

    public static void Run(int[] sequenceCounts, int visible, int rounds)
    {
        byte[] evict = new byte[64 << 20];
        int stride = HeadAttention.PaddedCapacity(Capacity) * HeadDim;
        var random = new Random(1);
        float[] query = Enumerable.Range(0, HeadDim).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
        float[] output = new float[HeadDim];
        float scale = 1f / MathF.Sqrt(HeadDim);
        Console.WriteLine($"attention probe: {Layers} layers x {Heads} heads x {HeadDim} channels, {visible}-{visible + 16} positions, context {Capacity}, one thread, {rounds} interleaved rounds");
        foreach (int n in sequenceCounts)
        {
            var keys32 = new float[n * Layers][];
            var values32 = new float[n * Layers][];
            var keys16 = new Half[n * Layers][];
            var values16 = new Half[n * Layers][];
            for (int i = 0; i < n * Layers; i++)
            {
                keys32[i] = new float[Heads * stride];
                values32[i] = new float[Heads * stride];
                keys16[i] = new Half[Heads * stride];
                values16[i] = new Half[Heads * stride];
                for (int j = 0; j < keys32[i].Length; j++)
                {
                    keys32[i][j] = (float)((random.NextDouble() * 2) - 1);
                    values32[i][j] = (float)((random.NextDouble() * 2) - 1);
                    keys16[i][j] = HalfVectors.Encode(keys32[i][j]);
                    values16[i][j] = HalfVectors.Encode(values32[i][j]);
                }
            }

            var times = new[] { new List<double>(), new List<double>() };
            for (int round = 0; round <= rounds; round++)
            {
                for (int variant = 0; variant < 2; variant++)
                {
                    Array.Fill(evict, (byte)round);
                    long start = Stopwatch.GetTimestamp();
                    for (int layer = 0; layer < Layers; layer++)
                    {
                        for (int s = 0; s < n; s++)
                        {
                            int cache = (s * Layers) + layer;
                            int seen = visible + (s % 17);
                            for (int h = 0; h < Heads; h++)
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
