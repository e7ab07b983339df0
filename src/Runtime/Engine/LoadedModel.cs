using Microsoft.ML.Tokenizers;
using MoeServe.Model;

namespace MoeServe.Runtime;

/// <summary>What <see cref="ModelLoader"/> builds from a manifest: the model's description, tokenizer, device report and sessions (owned).</summary>
internal sealed class LoadedModel(string directory, ModelManifest manifest, Tokenizer tokenizer, IReadOnlyList<DeviceReport> devices, ModelGraphs graphs, SessionResourceReport sessionResources) : IDisposable
{
    /// <summary>The directory holding manifest.json and the graphs.</summary>
    public string Directory { get; } = directory;

    public ModelManifest Manifest { get; } = manifest;

    public Tokenizer Tokenizer { get; } = tokenizer;

    public IReadOnlyList<DeviceReport> Devices { get; } = devices;

    public ModelGraphs Graphs { get; } = graphs;

    public SessionResourceReport SessionResources { get; } = sessionResources;

    public void Dispose() => Graphs.Dispose();
}
