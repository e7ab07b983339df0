using System.Text.Json.Nodes;
using MoeServe.Model;
using MoeServe.Model.Import;
using MoeServe.TestSupport;

namespace MoeServe.Import.Tests.Support;

/// <summary>The shared MoE import fixtures (shared/fixtures/moe-import), found by walking up from the test assembly.</summary>
public static class Fixtures
{
    /// <summary>shared/fixtures/moe-import/mixtral; fails (never skips) when it cannot be found.</summary>
    public static string MixtralDirectory => Path.Combine(MoeImportRoot, "mixtral");

    /// <summary>mixtral.gguf in the fixture.</summary>
    public static string MixtralGguf => Path.Combine(MixtralDirectory, "mixtral.gguf");

    /// <summary>The fixture's Hugging Face directory.</summary>
    public static string MixtralHf => Path.Combine(MixtralDirectory, "hf");

    /// <summary>shared/fixtures/moe-import (SharedFixtures' lookup).</summary>
    public static string MoeImportRoot => SharedFixtures.Directory("moe-import");

    /// <summary>The fixture's HF directory as an in-memory checkpoint (config.json + model.safetensors).</summary>
    public static InMemoryHfCheckpoint LoadMixtralHf()
    {
        var config = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(MixtralHf, "config.json")))!;
        SafeTensorsContent content = SafeTensorsFile.Read(Path.Combine(MixtralHf, "model.safetensors"));
        return new InMemoryHfCheckpoint(MixtralHf, config, content.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value));
    }
}

/// <summary>An <see cref="IHfCheckpoint"/> over tensors in memory (tests only).</summary>
public sealed class InMemoryHfCheckpoint(string source, JsonObject config, IReadOnlyDictionary<string, FloatTensor> tensors) : IHfCheckpoint
{
    /// <summary>The tensors by transformers name.</summary>
    public IReadOnlyDictionary<string, FloatTensor> Tensors { get; } = tensors;

    public string Source { get; } = source;

    public JsonObject Config { get; } = config;

    public JsonObject? GenerationConfig => null;

    public IReadOnlyCollection<string> TensorNames => Tensors.Keys.ToArray();

    public IReadOnlyList<long> Shape(string name) => Array.ConvertAll(Tensors[name].Shape, d => (long)d);

    public void ReadFloat32(string name, Span<float> destination) => Tensors[name].Data.CopyTo(destination);

    public void Dispose()
    {
    }
}
