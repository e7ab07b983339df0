using System.Text.Json;

namespace MoeServe.Server.Tests.Support;

/// <summary>Reads a server-sent-events body into its data payloads.</summary>
public static class Sse
{
    /// <summary>Each event's data, in order; the last is "[DONE]" for a complete stream.</summary>
    public static async Task<List<string>> ReadAllAsync(HttpResponseMessage response)
    {
        var events = new List<string>();
        using var stream = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(stream);
        var data = new List<string>();
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0)
            {
                if (data.Count > 0)
                {
                    events.Add(string.Join("\n", data));
                    data.Clear();
                }

                continue;
            }

            Assert.StartsWith("data: ", line, StringComparison.Ordinal);
            data.Add(line["data: ".Length..]);
        }

        Assert.Empty(data);
        return events;
    }

    /// <summary>The JSON documents of a stream (everything before [DONE]).</summary>
    public static List<JsonElement> Json(List<string> events)
    {
        Assert.Equal("[DONE]", events[^1]);
        return events.Take(events.Count - 1).Select(e => JsonDocument.Parse(e).RootElement.Clone()).ToList();
    }
}
