using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MoeServe.Model;

/// <summary>The JSON conventions of every file this library writes: camelCase, enums as camelCase strings, indented.</summary>
public static class ModelJson
{
    /// <summary>Serializer options shared by config.json, manifest.json and balancing.json.</summary>
    public static JsonSerializerOptions Options { get; } = CreateOptions();

    /// <summary>
    /// Reads one of these files: malformed JSON becomes an <see cref="InvalidDataException"/> "SOURCE is not WHAT: reason".
    /// JSON null reads as null, which each caller refuses in its own words.
    /// </summary>
    /// <param name="json">The JSON text.</param>
    /// <param name="source">Where the text came from, named in the message.</param>
    /// <param name="what">What it should have been, e.g. "a valid model config".</param>
    public static T? Deserialize<T>(string json, string source, string what)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, Options);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{source} is not {what}: {ex.Message}", ex);
        }
    }

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            WriteIndented = true,

            // Files, not HTML: keep "<|endoftext|>" readable instead of "\u003C|endoftext|\u003E".
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            AllowTrailingCommas = true,
            ReadCommentHandling = JsonCommentHandling.Skip,
            NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase, allowIntegerValues: false));
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
