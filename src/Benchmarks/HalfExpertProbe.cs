using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using MoeServe.Model;
using MoeServe.Runtime.Kernels;

namespace MoeServe.Benchmarks;

/// <summary>
/// A float16 model's expert graphs (models/default unless another directory is given) run two ways on one thread:
/// each graph's ONNX Runtime session (weights folded to float32) and the managed float16 kernel
/// (<see cref="HalfSwiGluExpert"/>), cycling through every expert of every layer as decode does, in interleaved
/// rounds. Prints microseconds per expert call at each row count and the largest difference of the outputs. Run with
/// <c>dotnet run --project src/Benchmarks -c Release -- half [rows,...] [rounds] [model dir]</c>.
/// </summary>
internal static class HalfExpertProbe
{
    public static void Run(int[] rowCounts, int rounds, string directory)
    {
        var manifest = ModelManifest.Load(directory);
        int d = manifest.Config.DModel;
        string[] files = manifest.Graphs.Layers.SelectMany(l => l.Experts).Select(f => Path.Combine(directory, f)).ToArray();
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        var sessions = files.Select(f => new InferenceSession(f, options)).ToArray();
        var managed = files.Select(f => SwiGluExpertGraph.TryLoadHalf(f, d) ?? throw new InvalidDataException($"{f} is not a float16 SwiGLU expert.")).ToArray();
        Console.WriteLine($"{files.Length} experts of {directory} (d {d}, hidden {manifest.Config.ExpertHidden}); HalfMatMul accelerated: {HalfMatMul.IsAccelerated}");
        var scratch = new ManagedExpertScratch();
        var random = new Random(3);
        string input = sessions[0].InputNames[0];
        string output = sessions[0].OutputNames[0];
        foreach (int rows in rowCounts)
        {
            var x = new float[rows * d];
            for (int i = 0; i < x.Length; i++)
            {
                x[i] = (float)((random.NextDouble() * 2) - 1);
            }

            var ortY = new float[rows * d];
            var ownY = new float[rows * d];
            using var xValue = OrtValue.CreateTensorValueFromMemory(x, [rows, d]);
            using var yValue = OrtValue.CreateTensorValueFromMemory(ortY, [rows, d]);
            using var runOptions = new RunOptions();
            var ort = new List<double>();
            var own = new List<double>();
            double maxDiff = 0, maxAbs = 0;
            for (int round = 0; round < rounds; round++)
            {
                long t0 = Stopwatch.GetTimestamp();
                foreach (var s in sessions)
                {
                    s.Run(runOptions, [input], [xValue], [output], [yValue]);
                }

                long t1 = Stopwatch.GetTimestamp();
                foreach (var m in managed)
                {
                    m.Run(x, rows, ownY, scratch);
                }

                long t2 = Stopwatch.GetTimestamp();
                ort.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMicroseconds / files.Length);
                own.Add(Stopwatch.GetElapsedTime(t1, t2).TotalMicroseconds / files.Length);
                if (round == 0)
                {
                    // The last expert on both.
                    for (int j = 0; j < ortY.Length; j++)
                    {
                        maxDiff = Math.Max(maxDiff, Math.Abs(ortY[j] - ownY[j]));
                        maxAbs = Math.Max(maxAbs, Math.Abs(ortY[j]));
                    }
                }
            }

            double ortUs = ProbeStatistics.Median(ort);
            double ownUs = ProbeStatistics.Median(own);
            Console.WriteLine($"rows {rows}: session {ortUs:F1} us, managed float16 {ownUs:F1} us an expert call; session / managed time {ortUs / ownUs:F2}x; max |diff| {maxDiff:G3} of max |y| {maxAbs:G3}");
        }

        foreach (var s in sessions)
        {
            s.Dispose();
        }
    }
}
