namespace MoeServe.Runtime.Kernels;

/// <summary>An expert computed in managed code on the calling worker, from the weights its graph holds.</summary>
internal interface IManagedExpert
{
    /// <summary>The most rows a step gives this kernel; an expert that also has a session runs larger steps there.</summary>
    int MaxRows { get; }

    /// <summary>y [rows, dModel] for x [rows, dModel], with <paramref name="scratch"/> the calling worker's.</summary>
    void Run(ReadOnlySpan<float> x, int rows, Span<float> y, ManagedExpertScratch scratch);
}
