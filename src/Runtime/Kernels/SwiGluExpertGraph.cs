using System.Runtime.InteropServices;
using Onnx;

namespace MoeServe.Runtime.Kernels;

/// <summary>
/// Recognises an exported expert graph that a managed kernel computes as ONNX Runtime would: a projection over the
/// stacked W1/W3, a Split in halves, silu(first) * second, a projection over W2, nothing else (no shared-expert
/// gate, no bias). The projections are either MatMulNBits (4 bits, blocks of 32, implicit zero points,
/// accuracy_level 4: <see cref="Int4SwiGluExpert"/>) or MatMul over a float16 initializer widened by a Cast
/// (<see cref="HalfSwiGluExpert"/>). Anything else stays an ONNX Runtime session.
/// </summary>
internal static class SwiGluExpertGraph
{
    /// <summary>The int4 expert for the graph at <paramref name="path"/>, or null (the session then tried reports a broken graph).</summary>
    public static Int4SwiGluExpert? TryLoadInt4(string path, int dModel)
    {
        if (TryRead(path, "MatMulNBits") is not { } g || !IsInt4Level4(g.W13, out long k13, out long n13) || !IsInt4Level4(g.W2, out long hidden, out long n2) ||
            k13 != dModel || n2 != dModel || n13 != 2 * hidden || !g.SplitsInHalves(hidden))
        {
            return null;
        }

        try
        {
            return g.Initializer(g.W13.Input[1]) is { } w13Codes && g.Initializer(g.W13.Input[2], TensorProto.Types.DataType.Float) is { } w13Scales &&
                   g.Initializer(g.W2.Input[1]) is { } w2Codes && g.Initializer(g.W2.Input[2], TensorProto.Types.DataType.Float) is { } w2Scales
                ? new Int4SwiGluExpert(new Int4Matrix((int)n13, dModel, w13Codes.RawData.Span, w13Scales.RawData.Span), new Int4Matrix(dModel, (int)hidden, w2Codes.RawData.Span, w2Scales.RawData.Span))
                : null;
        }
        catch (ArgumentException)
        {
            // Initializers whose sizes do not match the node's K and N: the session reports the graph.
            return null;
        }
    }

    /// <summary>The float16 expert for the graph at <paramref name="path"/>, or null.</summary>
    public static HalfSwiGluExpert? TryLoadHalf(string path, int dModel)
    {
        if (TryRead(path, "MatMul") is not { } g || g.HalfWeight(g.W13) is not { } w13 || g.HalfWeight(g.W2) is not { } w2 ||
            w13.Dims is not [var k13, var n13] || w2.Dims is not [var hidden, var n2] ||
            k13 != dModel || n2 != dModel || n13 != 2 * hidden || !g.SplitsInHalves(hidden))
        {
            return null;
        }

        try
        {
            return new HalfSwiGluExpert(new HalfMatrix(dModel, (int)n13, w13.RawData.Span), new HalfMatrix((int)hidden, dModel, w2.RawData.Span));
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    // The graph parsed and its SwiGLU wiring checked, with projection nodes of type 'projection'; null otherwise.
    private static Parsed? TryRead(string path, string projection)
    {
        if (GraphFile.TryParse(path) is not { } model)
        {
            return null;
        }

        // Casts are skipped here: the wiring below only connects through a Cast where a weight is widened.
        var graph = model.Graph;
        var nodes = graph.Node.Where(n => n.OpType is not ("Identity" or "Cast")).ToArray();
        if (!nodes.Select(n => n.OpType).SequenceEqual([projection, "Split", "Sigmoid", "Mul", "Mul", projection]) || graph.Input.Count != 1 || graph.Output.Count != 1)
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
        return wired ? new Parsed(graph, w13, split, w2, graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal)) : null;
    }

    // A Mul of exactly these two values, in either order.
    private static bool Multiplies(NodeProto mul, string a, string b) =>
        mul.Input.Count == 2 && ((mul.Input[0] == a && mul.Input[1] == b) || (mul.Input[0] == b && mul.Input[1] == a));

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

    private sealed record Parsed(GraphProto Graph, NodeProto W13, NodeProto Split, NodeProto W2, Dictionary<string, TensorProto> Initializers)
    {
        // An initializer with its bytes inline (of the given type when one is given), or null.
        public TensorProto? Initializer(string name, TensorProto.Types.DataType? type = null) => GraphFile.Inline(Initializers, name, type);

        // The float16 initializer a MatMul's second input widens through one Cast to float, or null.
        public TensorProto? HalfWeight(NodeProto matMul)
        {
            if (matMul.Input.Count != 2)
            {
                return null;
            }

            var cast = Graph.Node.FirstOrDefault(n => n.OpType == "Cast" && n.Output.Count == 1 && n.Output[0] == matMul.Input[1]);
            return cast is { Input.Count: 1 } && cast.Attribute.FirstOrDefault(a => a.Name == "to")?.I == (long)TensorProto.Types.DataType.Float
                ? Initializer(cast.Input[0], TensorProto.Types.DataType.Float16)
                : null;
        }

        // Split along axis 1 into [hidden, hidden] (the sizes as the split's second input, raw or typed int64s).
        public bool SplitsInHalves(long hidden)
        {
            if (Split.Input.Count < 2 || !Initializers.TryGetValue(Split.Input[1], out var sizes))
            {
                return false;
            }

            long axis = Split.Attribute.FirstOrDefault(a => a.Name == "axis")?.I ?? 0;
            long[] values = sizes.Int64Data.Count > 0 ? [.. sizes.Int64Data] : MemoryMarshal.Cast<byte, long>(sizes.RawData.Span).ToArray();
            return axis is 1 or -1 && values is [var first, var second] && first == hidden && second == hidden;
        }
    }
}
