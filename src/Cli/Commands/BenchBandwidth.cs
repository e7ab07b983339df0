using System.Diagnostics;
using System.Numerics;
using System.Runtime.InteropServices;
using MoeServe.Model;
using MoeServe.Model.Gguf;

namespace MoeServe.Cli.Commands;

/// <summary>
/// bench's <c>--bandwidth</c>: the physical limit of single-stream decode on this machine. One decode step of one
/// sequence must read every weight it uses once (the top-K experts of each layer, attention, router, head), so
/// tokens/s cannot exceed memory bandwidth / those bytes. Bandwidth is measured in the same process by a copy
/// loop and a read loop over a buffer far larger than the caches; the bytes are counted from the files each
/// engine reads (MoeServe's graphs, the peer's GGUF tensors), scaling the experts by top-K / experts.
/// </summary>
internal static class BenchBandwidth
{
    private const long BufferBytes = 1L << 30;

    /// <summary>Measures bandwidth on <paramref name="threads"/> threads and the limits of both engines.</summary>
    public static BenchBandwidthReport Measure(string modelDirectory, string? peerGguf, int threads, Action<string>? progress)
    {
        progress?.Invoke($"measuring memory bandwidth ({BufferBytes >> 20} MB buffers, copy and read, {threads} threads) ...");
        (double copy, double read) = MeasureBandwidth(threads);
        long moeServe = MoeServeBytesPerToken(modelDirectory);
        long? peer = peerGguf is null ? null : GgufBytesPerToken(peerGguf);
        return new BenchBandwidthReport(BufferBytes, threads, copy, read, moeServe, copy / moeServe, peer, peer is null ? null : copy / peer.Value);
    }

    /// <summary>
    /// Bytes/s of a copy (read + write counted: 2 x buffer per pass) and of a vectorised read-only sum, the best of
    /// 5 passes each, the buffer split across <paramref name="threads"/> threads.
    /// </summary>
    public static (double CopyBytesPerSecond, double ReadBytesPerSecond) MeasureBandwidth(int threads)
    {
        byte[] source = GC.AllocateUninitializedArray<byte>((int)Math.Min(BufferBytes, Array.MaxLength));
        byte[] target = GC.AllocateUninitializedArray<byte>(source.Length);
        new Random(1).NextBytes(source);
        Array.Fill(target, (byte)1); // touch every page before timing
        int slice = source.Length / threads;
        double bestCopy = 0;
        double bestRead = 0;
        long sink = 0;
        for (int pass = 0; pass < 5; pass++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t => source.AsSpan(t * slice, slice).CopyTo(target.AsSpan(t * slice, slice)));
            bestCopy = Math.Max(bestCopy, 2.0 * slice * threads / Stopwatch.GetElapsedTime(t0).TotalSeconds);

            t0 = Stopwatch.GetTimestamp();
            long[] sums = new long[threads];
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t => sums[t] = Sum(source.AsSpan(t * slice, slice)));
            bestRead = Math.Max(bestRead, (double)slice * threads / Stopwatch.GetElapsedTime(t0).TotalSeconds);
            sink += sums.Sum();
        }

        GC.KeepAlive(sink);
        return (bestCopy, bestRead);
    }

    private static long Sum(ReadOnlySpan<byte> bytes)
    {
        var words = MemoryMarshal.Cast<byte, Vector<ulong>>(bytes);
        var acc = Vector<ulong>.Zero;
        foreach (var w in words)
        {
            acc ^= w;
        }

        return (long)Vector.Sum(acc);
    }

    /// <summary>
    /// Bytes one single-sequence decode step of MoeServe reads: the qkv and post graphs of every layer, top-K / experts
    /// of that layer's expert graphs (file sizes: the graphs are almost all initializers), and the head as the session
    /// holds it (<see cref="HeadBytes"/>); the embedding graph is a one-row lookup and not counted.
    /// </summary>
    public static long MoeServeBytesPerToken(string modelDirectory)
    {
        var config = ModelManifest.Load(modelDirectory).Config;
        double bytes = HeadBytes(Path.Combine(modelDirectory, "head.onnx"));
        for (int l = 0; l < config.Layers; l++)
        {
            bytes += new FileInfo(Path.Combine(modelDirectory, GraphNames.QkvFile(l))).Length + new FileInfo(Path.Combine(modelDirectory, GraphNames.PostFile(l))).Length;
            long experts = Enumerable.Range(0, config.Experts).Sum(e => new FileInfo(Path.Combine(modelDirectory, GraphNames.ExpertFile(l, e))).Length);
            bytes += (double)experts * config.TopK / config.Experts;
            string shared = Path.Combine(modelDirectory, GraphNames.SharedFile(l));
            if (File.Exists(shared))
            {
                bytes += new FileInfo(shared).Length;
            }
        }

        return (long)bytes;
    }

    /// <summary>
    /// The head's weight bytes as a step reads them: a float16 initializer is widened by a Cast that ONNX Runtime
    /// constant-folds at load, so the session holds (and every step reads) its float32 copy, twice the file's bytes.
    /// </summary>
    public static long HeadBytes(string headGraph)
    {
        var graph = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(headGraph)).Graph;
        return graph.Initializer.Sum(t => t.DataType == (int)Onnx.TensorProto.Types.DataType.Float16 ? 2L * t.RawData.Length : t.RawData.Length);
    }

    /// <summary>The same for a GGUF: every tensor but token_embd, the stacked expert tensors scaled by top-K / experts.</summary>
    public static long GgufBytesPerToken(string path)
    {
        using var file = GgufFile.Open(path);
        string arch = file.GetString("general.architecture") ?? string.Empty;
        double used = file.GetInteger(arch + ".expert_used_count") ?? 1;
        double experts = file.GetInteger(arch + ".expert_count") ?? 1;
        double bytes = 0;
        foreach (var tensor in file.Tensors.Where(t => t.Name != "token_embd.weight"))
        {
            long size = GgmlTypes.ByteCount(tensor.Type, tensor.ElementCount);
            bytes += tensor.Name.Contains("_exps.", StringComparison.Ordinal) ? size * used / experts : size;
        }

        return (long)bytes;
    }

    public static void Print(BenchBandwidthReport b, double? moeServeSingle, double? peerSingle)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c, $"memory bandwidth ({b.BufferBytes >> 20} MB buffers, {b.Threads} threads, best of 5): copy {b.CopyBytesPerSecond / 1e9:F2} GB/s (read + write), read {b.ReadBytesPerSecond / 1e9:F2} GB/s"));
        Console.WriteLine(string.Create(c, $"  MoeServe reads {b.MoeServeBytesPerToken / 1e6:F1} MB per single-sequence step: limit {b.MoeServeLimitTokensPerSecond:F1} tok/s at the copy bandwidth ({b.ReadBytesPerSecond / b.MoeServeBytesPerToken:F1} at the read bandwidth){Ratio(moeServeSingle, b.MoeServeLimitTokensPerSecond, b.ReadBytesPerSecond / b.MoeServeBytesPerToken)}"));
        if (b.PeerBytesPerToken is long peer && b.PeerLimitTokensPerSecond is double peerLimit)
        {
            Console.WriteLine(string.Create(c, $"  llama.cpp reads {peer / 1e6:F1} MB per single-sequence step: limit {peerLimit:F1} tok/s at the copy bandwidth ({b.ReadBytesPerSecond / peer:F1} at the read bandwidth){Ratio(peerSingle, peerLimit, b.ReadBytesPerSecond / peer)}"));
        }
    }

    // Both limits: the copy loop's is the one issue 17 set, but a decode step only reads, and on some hosts a copy moves
    // more bytes a second than a read.
    private static string Ratio(double? measured, double limit, double readLimit) =>
        measured is double m ? string.Create(CultureInfo.InvariantCulture, $"; measured at 1 sequence {m:F2} tok/s = {m / limit:P0} of it ({m / readLimit:P0} of the read limit)") : string.Empty;
}

/// <summary>bench --bandwidth's part of the report.</summary>
internal sealed record BenchBandwidthReport(long BufferBytes, int Threads, double CopyBytesPerSecond, double ReadBytesPerSecond, long MoeServeBytesPerToken, double MoeServeLimitTokensPerSecond, long? PeerBytesPerToken, double? PeerLimitTokensPerSecond);
