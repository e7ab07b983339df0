using System.Text.Json;
using MoeServe.Runtime;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>tokenizer encode|decode --from MODEL_DIR</c> on a MoeServe model directory (models/default, an imported model):
/// the tokenizer its manifest names through the runtime's own <see cref="PromptEncoder"/>, so the ids shown are the ids
/// <c>generate</c> and the server feed the model (BOS included when the model asks, unless <c>--raw</c>).
/// </summary>
internal static class ModelDirectoryTokenizer
{
    private static readonly JsonSerializerOptions CliJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static int Encode(string manifestPath, string text, bool json, bool raw)
    {
        if (!TryLoad(manifestPath, out var encoder, out var name))
        {
            return 2;
        }

        var ids = encoder.Encode(text, addSpecialTokens: !raw);
        var tokens = Array.ConvertAll(ids, encoder.TokenText);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new { ids, tokens, count = ids.Length }, CliJson));
            return 0;
        }

        Console.WriteLine($"{ids.Length} tokens (model {name}, the runtime's tokenizer{(encoder.AddsBos && !raw ? ", BOS added" : "")}):");
        Console.WriteLine("ids: " + string.Join(' ', ids.Select(id => id.ToString(CultureInfo.InvariantCulture))));
        Console.WriteLine("tokens: " + string.Join(' ', tokens.Select(t => JsonSerializer.Serialize(t, CliJson))));
        return 0;
    }

    public static int Decode(string manifestPath, IReadOnlyList<int> ids, bool json, bool skipSpecial)
    {
        if (!TryLoad(manifestPath, out var encoder, out _))
        {
            return 2;
        }

        var outside = ids.FirstOrDefault(id => id >= encoder.VocabSize, -1);
        if (outside >= 0)
        {
            Console.Error.WriteLine($"error: --ids: {outside} is outside the model's vocabulary of {encoder.VocabSize}.");
            return 2;
        }

        string text = encoder.Decode(ids, skipSpecial);
        Console.WriteLine(json ? JsonSerializer.Serialize(new { text, ids, count = ids.Count }, CliJson) : text);
        return 0;
    }

    private static bool TryLoad(string manifestPath, out PromptEncoder encoder, out string name)
    {
        string directory = Path.GetDirectoryName(Path.GetFullPath(manifestPath))!;
        try
        {
            encoder = PromptEncoder.Load(directory);
            name = Path.GetFileName(directory);
            return true;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException)
        {
            Console.Error.WriteLine($"error: --from: {e.Message}");
            encoder = null!;
            name = "";
            return false;
        }
    }
}
