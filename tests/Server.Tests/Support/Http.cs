using System.Net;
using System.Text;
using System.Text.Json;

namespace MoeServe.Server.Tests.Support;

/// <summary>Small helpers for JSON over HTTP.</summary>
public static class Http
{
    public static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(HttpClient client, string path, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await client.PostAsync(path, content);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    public static async Task<JsonElement> PostOkAsync(HttpClient client, string path, string json)
    {
        var (status, body) = await PostAsync(client, path, json);
        Assert.True(status == HttpStatusCode.OK, $"{path} answered {(int)status}: {body}");
        return body;
    }

    public static string CompletionText(JsonElement body) => body.GetProperty("choices")[0].GetProperty("text").GetString()!;

    /// <summary>Asserts OpenAI's error shape and returns the error object.</summary>
    public static JsonElement AssertError(JsonElement body)
    {
        var error = body.GetProperty("error");
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.False(string.IsNullOrEmpty(error.GetProperty("type").GetString()));
        Assert.True(error.TryGetProperty("param", out _));
        Assert.True(error.TryGetProperty("code", out _));
        return error;
    }

    /// <summary>Sum of every sample of a metric in Prometheus text format (all label sets).</summary>
    public static double MetricSum(string exposition, string name)
    {
        double sum = 0;
        foreach (var line in exposition.Split('\n'))
        {
            if (line.StartsWith(name, StringComparison.Ordinal) && (line.Length > name.Length && (line[name.Length] == '{' || line[name.Length] == ' ')))
            {
                sum += double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return sum;
    }
}
