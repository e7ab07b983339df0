using System.Diagnostics;
using System.Globalization;
using MoeServe.Runtime;

namespace MoeServe.Benchmarks;

/// <summary>
/// What one hand-over of the engine's <see cref="WorkerPool"/> costs: phases of two items of a few microseconds of
/// work each, with some serial work on the calling thread between them, as a decode step of one sequence runs dozens
/// of them. Prints microseconds per phase above the work itself. Run with
/// <c>dotnet run --project src/Benchmarks -c Release -- pool [phases] [item-us] [gap-us]</c>.
/// </summary>
internal static class PoolProbe
{
    public static void Run(int phases, double itemMicroseconds, double gapMicroseconds)
    {
        using var pool = new WorkerPool(2);
        var body = new Spin(itemMicroseconds);
        int[] order = [0, 1];
        for (int round = 0; round < 3; round++)
        {
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < phases; i++)
            {
                pool.Run(body, order, 2);
                Spin.For(gapMicroseconds);
            }

            double perPhase = Stopwatch.GetElapsedTime(start).TotalMicroseconds / phases;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round}: {perPhase:F1} us a phase of two {itemMicroseconds} us items after {gapMicroseconds} us of serial work: {perPhase - itemMicroseconds - gapMicroseconds:F1} us of hand-over"));
        }
    }

    private sealed class Spin(double microseconds) : IWorkBody
    {
        public static void For(double microseconds)
        {
            long end = Stopwatch.GetTimestamp() + (long)(Stopwatch.Frequency * microseconds / 1e6);
            while (Stopwatch.GetTimestamp() < end)
            {
                Thread.SpinWait(4);
            }
        }

        public void Execute(int item, int worker) => For(microseconds);
    }
}
