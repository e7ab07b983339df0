using System.Text.Json;
using System.Text.Json.Serialization;

namespace MoeServe.Model;

/// <summary>The JSON conventions of every file this library writes: camelCase, enums as camelCase strings, indented.</summary>
public static class ModelJson
{
    /// <summary>Serializer options shared by config.json, manifest.json and balancing.json.</summary>
    public static JsonSerializerOptions Options { get; } = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            WriteIndented = true,
            AllowTrailingCommas = true,
            ReadCommentHandling = JsonCommentHandling.Skip,
            NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase, allowIntegerValues: false));
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
