using System.Text.Json.Nodes;
using YamlDotNet.RepresentationModel;

namespace MoeServe.LoadTest.Tests.Support;

/// <summary>Loads YAML files (several documents each) as JSON nodes, so tests navigate them like JSON.</summary>
internal static class YamlDocuments
{
    /// <summary>Every document of the file, scalars as strings.</summary>
    public static IReadOnlyList<JsonNode> Load(string relativePath)
    {
        var stream = new YamlStream();
        using var reader = new StringReader(RepositoryPaths.Read(relativePath));
        stream.Load(reader);
        return stream.Documents.Select(d => ToJson(d.RootNode)!).ToList();
    }

    /// <summary>Every document of every YAML file under a folder, with its file.</summary>
    public static IReadOnlyList<(string File, JsonNode Document)> LoadAll(string folder) =>
        RepositoryPaths.Files(folder, "*.yaml").Concat(RepositoryPaths.Files(folder, "*.yml"))
            .SelectMany(f => Load(f).Select(d => (f, d)))
            .ToList();

    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(c => KeyValuePair.Create(((YamlScalarNode)c.Key).Value!, ToJson(c.Value)))),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(ToJson).ToArray()),
        YamlScalarNode scalar => scalar.Value is null ? null : JsonValue.Create(scalar.Value),
        _ => throw new InvalidDataException($"unsupported YAML node {node.NodeType}"),
    };
}
