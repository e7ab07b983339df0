namespace MoeServe.Model;

/// <summary>
/// Tensors by MoeServe checkpoint name (<see cref="CheckpointTensorNames"/>), read on demand: the graph
/// factory asks for each tensor when it builds the graph that needs it, so a source can stream a
/// large checkpoint one tensor at a time (an import) or hand out tensors already in memory (export).
/// </summary>
public interface ITensorSource
{
    /// <summary>Where the tensors come from, named in messages.</summary>
    string Source { get; }

    /// <summary>The shape of the named tensor, or null when the source has none by that name.</summary>
    /// <param name="name">A checkpoint tensor name.</param>
    int[]? ShapeOf(string name);

    /// <summary>Reads the named tensor as float32 (row-major, [out, in] for a Linear weight).</summary>
    /// <param name="name">A checkpoint tensor name.</param>
    FloatTensor Read(string name);

    /// <summary>How messages name the tensor (e.g. its name in the source's own format).</summary>
    /// <param name="name">A checkpoint tensor name.</param>
    string DescribeName(string name);
}
