using System.Runtime.InteropServices;
using Onnx;

namespace MoeServe.Runtime.Kernels;

/// <summary>
/// Recognises an exported expert graph that <see cref="Int4SwiGluExpert"/> computes exactly as ONNX Runtime
/// would at accuracy_level 4: MatMulNBits (4 bits, blocks of 32, implicit zero points, level 4) over the
/// stacked W1/W3, a Split in halves, silu(first) * second, MatMulNBits over W2, nothing else (no shared-expert
/// gate, no bias). Anything else stays an ONNX Runtime session.
/// </summary>
internal static class Int4ExpertGraph
{
    private static readonly string[] Ops = ["MatMulNBits", "Split", "Sigmoid", "Mul", "Mul", "MatMulNBits"];

    /// <summary>
    /// The managed expert for the graph at <paramref name="path"/>, or null when the graph is not that shape or
    /// cannot be read (the session that is then tried reports why).
    /// </summary>
    public static Int4SwiGluExpert? TryLoad(string path, int dModel)
    {
        ModelProto model;
        try
        {
            using var stream = File.OpenRead(path);
            model = ModelProto.Parser.ParseFrom(stream);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Google.Protobuf.InvalidProtocolBufferException)
        {
            return null;
        }

        var graph = model.Graph;
        var nodes = graph.Node.Where(n => n.OpType != "Identity").ToArray();
        if (!nodes.Select(n => n.OpType).SequenceEqual(Ops) || graph.Input.Count != 1 || graph.Output.Count != 1)
        {
            return null;
        }

        var (w13, split, sigmoid, silu, product, w2) = (nodes[0], nodes[1], nodes[2], nodes[3], nodes[4], nodes[5]);
        bool wired =
            w13.Input[0] == graph.Input[0].Name &&
            split.Input[0] == w13.Output[0] && split.Output.Count == 2 &&
            sigmoid.Input[0] == split.Output[0] &&
            Multiplies(silu, split.Output[0], sigmoid.Output[0]) &&
            Multiplies(product, silu.Output[0], split.Output[1]) &&
            w2.Input[0] == product.Output[0] &&
            OutputOf(graph, w2.Output[0]);
        if (!wired || !IsInt4Level4(w13, out long k13, out long n13) || !IsInt4Level4(w2, out long k2, out long n2))
        {
            return null;
        }

        long hidden = k2;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        if (k13 != dModel || n2 != dModel || n13 != 2 * hidden || !SplitsInHalves(split, initializers, hidden))
        {
            return null;
        }

        try
        {
            return initializers.TryGetValue(w13.Input[1], out var w13Codes) && initializers.TryGetValue(w13.Input[2], out var w13Scales) &&
                   initializers.TryGetValue(w2.Input[1], out var w2Codes) && initializers.TryGetValue(w2.Input[2], out var w2Scales) &&
                   w13Scales.DataType == (int)TensorProto.Types.DataType.Float && w2Scales.DataType == (int)TensorProto.Types.DataType.Float &&
                   new[] { w13Codes, w13Scales, w2Codes, w2Scales }.All(t => t.DataLocation == TensorProto.Types.DataLocation.Default && !t.RawData.IsEmpty)
                ? new Int4SwiGluExpert(new Int4Matrix((int)n13, dModel, w13Codes.RawData.Memory, w13Scales.RawData.Memory), new Int4Matrix(dModel, (int)hidden, w2Codes.RawData.Memory, w2Scales.RawData.Memory))
                : null;
        }
        catch (ArgumentException)
        {
            // Initializers whose sizes do not match the node's K and N: the session reports the graph.
            return null;
        }
    }

    // A Mul of exactly these two values, in either order.
    private static bool Multiplies(NodeProto mul, string a, string b) =>
        mul.Input.Count == 2 && ((mul.Input[0] == a && mul.Input[1] == b) || (mul.Input[0] == b && mul.Input[1] == a));

    // Split along axis 1 into [hidden, hidden] (the sizes as the split's second input, raw or typed int64s).
    private static bool SplitsInHalves(NodeProto split, Dictionary<string, TensorProto> initializers, long hidden)
    {
        if (split.Input.Count < 2 || !initializers.TryGetValue(split.Input[1], out var sizes))
        {
            return false;
        }

        long axis = split.Attribute.FirstOrDefault(a => a.Name == "axis")?.I ?? 0;
        long[] values = sizes.Int64Data.Count > 0 ? [.. sizes.Int64Data] : MemoryMarshal.Cast<byte, long>(sizes.RawData.Span).ToArray();
        return axis is 1 or -1 && values is [var first, var second] && first == hidden && second == hidden;
    }

    // The output is the node's value, directly or through Identity nodes.
    private static bool OutputOf(GraphProto graph, string value)
    {
        string output = graph.Output[0].Name;
        while (value != output)
        {
            var next = graph.Node.FirstOrDefault(n => n.OpType == "Identity" && n.Input[0] == value);
            if (next is null)
            {
                return false;
            }

            value = next.Output[0];
        }

        return true;
    }

    private static bool IsInt4Level4(NodeProto node, out long k, out long n)
    {
        long Attribute(string name) => node.Attribute.FirstOrDefault(a => a.Name == name)?.I ?? -1;
        k = Attribute("K");
        n = Attribute("N");
        return node.Domain == "com.microsoft" && node.Input.Count == 3 &&
               Attribute("bits") == 4 && Attribute("block_size") == Int8Rows.BlockSize && Attribute("accuracy_level") == 4 &&
               k > 0 && n > 0 && k % Int8Rows.BlockSize == 0;
    }
}
