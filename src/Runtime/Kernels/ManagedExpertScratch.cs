namespace MoeServe.Runtime.Kernels;

/// <summary>One worker's buffers for <see cref="IManagedExpert.Run"/>: grown to the largest step, reused.</summary>
internal sealed class ManagedExpertScratch
{
    private float[] _both = [];
    private float[] _product = [];

    /// <summary>Activations quantized for the int4 kernel.</summary>
    public Int8Rows Activations { get; } = new();

    /// <summary>x [W1; W3]^T: each row's gate half then its up half.</summary>
    public Span<float> Both(int length) => Scratch.Grow(ref _both, length);

    public Span<float> Product(int length) => Scratch.Grow(ref _product, length);
}
