using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace MoeServe.Server.Api;

/// <summary>
/// Finds a JSON string (or property name) whose \uXXXX escapes leave a UTF-16 surrogate unpaired.
/// Such text is valid UTF-8 and valid JSON syntax, so <see cref="Utf8JsonReader"/> accepts it, but it
/// has no string value: GetString throws InvalidOperationException wherever the text is read, deep in
/// the deserializer or in the parser. One pass before deserializing lets every field report it the
/// same way, as a 400 naming the field, instead of whichever exception the first reader throws.
/// </summary>
internal static class UnpairedSurrogateScanner
{
    /// <summary>
    /// True when some string holds an unpaired surrogate; <paramref name="param"/> is then its path
    /// ("messages[0].content"), or for a property name the path of the object holding it (null at the top).
    /// Throws <see cref="JsonException"/> on malformed JSON, as the deserializer would.
    /// </summary>
    public static bool TryFind(ReadOnlySpan<byte> json, JsonReaderOptions options, out string? param, out bool inPropertyName)
    {
        var reader = new Utf8JsonReader(json, options);
        var frames = new List<Frame>();
        while (reader.Read())
        {
            var token = reader.TokenType;
            if (token is JsonTokenType.EndObject or JsonTokenType.EndArray)
            {
                frames.RemoveAt(frames.Count - 1);
                continue;
            }

            if (token == JsonTokenType.PropertyName)
            {
                if (reader.ValueIsEscaped && HasUnpairedSurrogate(reader.ValueSpan))
                {
                    param = Render(frames, frames.Count - 1);
                    inPropertyName = true;
                    return true;
                }

                frames[^1] = frames[^1] with { Property = reader.GetString() };
                continue;
            }

            // Any other token is a value: it takes the next slot of an enclosing array.
            if (frames.Count > 0 && frames[^1].IsArray)
            {
                frames[^1] = frames[^1] with { Index = frames[^1].Index + 1 };
            }

            switch (token)
            {
                case JsonTokenType.StartObject:
                    frames.Add(new Frame(IsArray: false, Index: -1, Property: null));
                    break;
                case JsonTokenType.StartArray:
                    frames.Add(new Frame(IsArray: true, Index: -1, Property: null));
                    break;
                case JsonTokenType.String when reader.ValueIsEscaped && HasUnpairedSurrogate(reader.ValueSpan):
                    param = Render(frames, frames.Count);
                    inPropertyName = false;
                    return true;
            }
        }

        param = null;
        inPropertyName = false;
        return false;
    }

    // The raw (still escaped) bytes of one string token; the reader has checked every escape is well-formed.
    private static bool HasUnpairedSurrogate(ReadOnlySpan<byte> raw)
    {
        for (var i = 0; i < raw.Length; i++)
        {
            if (raw[i] != (byte)'\\')
            {
                continue;
            }

            i++; // the escaped character: skipping it keeps "\\u" (an escaped backslash, then u) from looking like \u
            if (raw[i] != (byte)'u')
            {
                continue;
            }

            var unit = Hex4(raw.Slice(i + 1, 4));
            i += 4;
            if (unit is < 0xD800 or > 0xDFFF)
            {
                continue;
            }

            if (unit >= 0xDC00)
            {
                return true; // a low surrogate with no high one before it
            }

            // A high surrogate pairs only with an escaped low one right after it (UTF-8 cannot carry a surrogate).
            if (i + 6 < raw.Length && raw[i + 1] == (byte)'\\' && raw[i + 2] == (byte)'u' && Hex4(raw.Slice(i + 3, 4)) is >= 0xDC00 and <= 0xDFFF)
            {
                i += 6;
                continue;
            }

            return true;
        }

        return false;
    }

    private static int Hex4(ReadOnlySpan<byte> hex) => Utf8Parser.TryParse(hex, out ushort value, out _, 'X') ? value : -1;

    private static string? Render(List<Frame> frames, int count)
    {
        var path = new StringBuilder();
        for (var i = 0; i < count; i++)
        {
            var frame = frames[i];
            if (frame.IsArray)
            {
                path.Append('[').Append(frame.Index.ToString(CultureInfo.InvariantCulture)).Append(']');
            }
            else if (frame.Property is not null)
            {
                path.Append(path.Length == 0 ? "" : ".").Append(frame.Property);
            }
        }

        return path.Length == 0 ? null : path.ToString();
    }

    private readonly record struct Frame(bool IsArray, int Index, string? Property);
}
