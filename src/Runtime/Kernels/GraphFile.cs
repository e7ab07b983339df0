using Onnx;

namespace MoeServe.Runtime.Kernels;

/// <summary>Reading an exported graph for the managed kernels, which take the weights as the graph stores them.</summary>
internal static class GraphFile
{
    /// <summary>The graph at <paramref name="path"/>, or null when it cannot be read (the session tried next reports why).</summary>
    public static ModelProto? TryParse(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return ModelProto.Parser.ParseFrom(stream);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Google.Protobuf.InvalidProtocolBufferException)
        {
            return null;
        }
    }

    /// <summary>The initializer <paramref name="name"/> with its bytes inline (not external data), of <paramref name="type"/> when given; else null.</summary>
    public static TensorProto? Inline(IReadOnlyDictionary<string, TensorProto> initializers, string name, TensorProto.Types.DataType? type = null) =>
        initializers.TryGetValue(name, out var t) && t.DataLocation == TensorProto.Types.DataLocation.Default && !t.RawData.IsEmpty &&
        (type is null || t.DataType == (int)type)
            ? t
            : null;
}
