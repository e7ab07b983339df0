using System.Diagnostics;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MoeServe.Model.Onnx;
using MoeServe.Model.Quantization;
using MoeServe.Runtime.Kernels;

namespace MoeServe.Benchmarks;

/// <summary>
/// The managed int4 kernel (<see cref="Int4MatMul"/>) against ONNX Runtime's MatMulNBits at accuracy_level 4
/// (one thread a session) on the same random 4-bit matrices [N, K] shaped like an OLMoE expert's fused W1/W3,
/// enough of them to overflow the caches, the matrices split over the threads as the expert phase's workers
/// split experts, in interleaved rounds. Prints microseconds per matrix, GB/s of codes and scales read, and
/// the largest difference between the two outputs. Run with
/// <c>dotnet run --project src/Benchmarks -c Release -- int4 [rows,...] [matrices] [rounds] [threads]</c>.
/// </summary>
internal static class Int4Probe
{
    private const int N = 2048, K = 2048;

    public static void Run(int[] rowCounts, int matrices, int rounds, int threads)
    {
        var random = new Random(7);
        var weights = new BlockQuantizedMatrix[matrices];
        var packed = new Int4Matrix[matrices];
        var sessions = new InferenceSession[matrices];
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        for (int i = 0; i < matrices; i++)
        {
            var codes = new byte[N * K / 2];
            random.NextBytes(codes);
            var scales = new float[N * K / 32];
            for (int s = 0; s < scales.Length; s++)
            {
                scales[s] = (float)(random.NextDouble() * 0.02);
            }

            weights[i] = new BlockQuantizedMatrix(N, K, 4, 32, codes, scales, null);
            packed[i] = new Int4Matrix(N, K, codes, System.Runtime.InteropServices.MemoryMarshal.AsBytes(scales.AsSpan()));
            sessions[i] = new InferenceSession(ProbeGraphs.QuantizedMatMul(weights[i], 4).ToByteArray(), options);
        }

        double bytesPerMatrix = (N * K / 2) + (N * K / 32 * 4.0);
        Console.WriteLine($"{matrices} matrices [{N}, {K}] int4, {matrices * bytesPerMatrix / 1e6:F0} MB of codes and scales, {threads} thread(s); Int4MatMul accelerated: {Int4MatMul.IsAccelerated}, sums by {Int4MatMul.BestDot}");
        var quantized = Enumerable.Range(0, threads).Select(_ => new Int8Rows()).ToArray();
        foreach (int rows in rowCounts)
        {
            var input = new float[rows * K];
            for (int i = 0; i < input.Length; i++)
            {
                input[i] = (float)((random.NextDouble() * 2) - 1);
            }

            var ortOut = new float[rows * N];
            var ownOut = new float[threads][];
            var xValues = new OrtValue[threads];
            var yValues = new OrtValue[threads];
            for (int t = 0; t < threads; t++)
            {
                ownOut[t] = new float[rows * N];
                xValues[t] = OrtValue.CreateTensorValueFromMemory(input, [rows, K]);
                yValues[t] = OrtValue.CreateTensorValueFromMemory(t == 0 ? ortOut : new float[rows * N], [rows, N]);
            }

            using var runOptions = new RunOptions();
            var ort = new List<double>();
            var own = new List<double>();
            var madd = new List<double>();
            bool compareMadd = Int4MatMul.BestDot != Int4Dot.Madd;
            double maxDiff = 0;
            double maxAbs = 0;
            for (int round = 0; round < rounds; round++)
            {
                // Each thread takes every threads-th matrix, as the expert phase's workers take experts.
                long t0 = Stopwatch.GetTimestamp();
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
                {
                    for (int i = t; i < matrices; i += threads)
                    {
                        sessions[i].Run(runOptions, [ProbeGraphs.MatMulInput], [xValues[t]], [ProbeGraphs.MatMulOutput], [yValues[t]]);
                    }
                });

                long t1 = Stopwatch.GetTimestamp();
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
                {
                    for (int i = t; i < matrices; i += threads)
                    {
                        quantized[t].Fill(input, rows, K);
                        packed[i].Multiply(quantized[t], ownOut[t]);
                    }
                });

                long t2 = Stopwatch.GetTimestamp();
                if (compareMadd)
                {
                    // The AVX2 sums on a CPU that has better: what they cost where they are all there is.
                    Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
                    {
                        for (int i = t; i < matrices; i += threads)
                        {
                            quantized[t].Fill(input, rows, K);
                            packed[i].Multiply(quantized[t], ownOut[t], Int4Dot.Madd);
                        }
                    });

                    madd.Add(Stopwatch.GetElapsedTime(t2).TotalMicroseconds / matrices);
                }

                ort.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMicroseconds / matrices);
                own.Add(Stopwatch.GetElapsedTime(t1, t2).TotalMicroseconds / matrices);
                if (round == 0)
                {
                    // Thread 0's last matrix, on both (the kernel again: the AVX2 pass may have run after it).
                    int last = (matrices - 1) / threads * threads;
                    packed[last].Multiply(quantized[0], ownOut[0]);
                    sessions[last].Run(runOptions, [ProbeGraphs.MatMulInput], [xValues[0]], [ProbeGraphs.MatMulOutput], [yValues[0]]);
                    for (int j = 0; j < ortOut.Length; j++)
                    {
                        maxDiff = Math.Max(maxDiff, Math.Abs(ortOut[j] - ownOut[0][j]));
                        maxAbs = Math.Max(maxAbs, Math.Abs(ortOut[j]));
                    }
                }
            }

            foreach (var v in xValues.Concat(yValues))
            {
                v.Dispose();
            }

            double ortUs = ProbeStatistics.Median(ort);
            double ownUs = ProbeStatistics.Median(own);
            Console.WriteLine($"rows {rows}: MatMulNBits {ortUs:F0} us ({bytesPerMatrix / ortUs / 1e3:F1} GB/s at 0.625 B/weight, all threads), Int4MatMul {ownUs:F0} us ({bytesPerMatrix / ownUs / 1e3:F1} GB/s); MatMulNBits / Int4MatMul time {ortUs / ownUs:F2}x; max |diff| {maxDiff:G3} of max |y| {maxAbs:G3}" +
                (compareMadd ? $"; {Int4MatMul.BestDot} against Madd: {ProbeStatistics.Median(madd):F0} us" : string.Empty));
        }

        foreach (var s in sessions)
        {
            s.Dispose();
        }
    }
}
