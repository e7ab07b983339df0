using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace MoeServe.Text;

/// <summary>
/// The JSON files src/Text writes and reads back (a tokenizer's tokenizer.json description, a corpus's split.json):
/// camelCase, indented, text written as is (no \u escapes); files are UTF-8 without BOM and end with a newline.
/// </summary>
internal static class TextJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web) { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Writes <paramref name="value"/> to <paramref name="path"/>.</summary>
    public static void Write<T>(string path, T value) =>
        File.WriteAllText(path, JsonSerializer.Serialize(value, Options) + "\n", new UTF8Encoding(false));
}
