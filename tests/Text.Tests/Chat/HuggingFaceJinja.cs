using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MoeServe.Text.Tests.Chat;

/// <summary>Renders templates with @huggingface/jinja through tests/node/render-chat-template.mjs (one Node process
/// for a whole batch). Needs node on PATH and `npm ci` run in tests/node.</summary>
internal static class HuggingFaceJinja
{
    public sealed record Result(string? Text, string? Error);

    public static string NodeDirectory { get; } = FindNodeDirectory();

    public static IReadOnlyList<Result> Render(IReadOnlyList<(string Template, JsonObject Context)> cases)
    {
        var input = new JsonArray(cases.Select(c => (JsonNode)new JsonObject
        {
            ["template"] = c.Template,
            ["context"] = c.Context.DeepClone(),
        }).ToArray());
        var start = new ProcessStartInfo("node", ["render-chat-template.mjs"])
        {
            WorkingDirectory = NodeDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = System.Text.Encoding.UTF8,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start node");
        using (var stdin = new StreamWriter(process.StandardInput.BaseStream, new System.Text.UTF8Encoding(false)))
        {
            stdin.Write(input.ToJsonString());
        }

        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(60_000) || process.ExitCode != 0)
        {
            throw new InvalidOperationException($"node render-chat-template.mjs failed ({(process.HasExited ? process.ExitCode : -1)}): {stderr.Result}\n" +
                "Is node installed and `npm ci` run in tests/node?");
        }

        return JsonSerializer.Deserialize<List<Result>>(stdout, new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
    }

    private static string FindNodeDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MoeServe.sln")))
            {
                return Path.Combine(dir.FullName, "tests", "node");
            }
        }

        throw new InvalidOperationException("MoeServe.sln not found above the test binaries");
    }
}
