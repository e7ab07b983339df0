using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MoeServe.LoadTest.Tests.Support;

namespace MoeServe.LoadTest.Tests.Scripts;

/// <summary>
/// The request shapes and response fields the k6 scripts rely on (loadtest/requests.json) match the
/// server API of issue 5, and the scripts take every path and body from that file.
/// The server-side half (posting these same bodies to the test server and reading its answers
/// with the same field lists) belongs beside the server's WebApplicationFactory tests once
/// src/Server lands; see loadtest/README.md, "CI checks".
/// </summary>
public sealed partial class RequestShapeTests
{
    private static readonly JsonNode Shapes = JsonNode.Parse(RepositoryPaths.Read("loadtest/requests.json"))!;

    // Request fields the server accepts (issue 5, "API").
    private static readonly HashSet<string> CompletionFields =
        ["model", "prompt", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "seed", "stop", "stream", "stream_options", "n", "logprobs"];

    private static readonly HashSet<string> ChatFields =
        ["model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "seed", "stop", "stream", "stream_options", "n"];

    [Theory]
    [InlineData("completions", "/v1/completions")]
    [InlineData("chat", "/v1/chat/completions")]
    public void Api_Path_IsTheOpenAiCompatibleRoute(string api, string path)
    {
        Assert.Equal(path, (string?)Shapes["apis"]![api]!["path"]);
    }

    [Fact]
    public void Health_Paths_AreTheServersProbeModelsAndMetricsRoutes()
    {
        var health = Shapes["health"]!.AsObject();
        Assert.Equal("/health/live", (string?)health["live"]);
        Assert.Equal("/health/ready", (string?)health["ready"]);
        Assert.Equal("/v1/models", (string?)health["models"]);
        Assert.Equal("/metrics", (string?)health["metrics"]);
    }

    [Theory]
    [InlineData("completions")]
    [InlineData("chat")]
    public void RequestBodies_SendOnlyFieldsTheServerAccepts(string api)
    {
        var allowed = api == "chat" ? ChatFields : CompletionFields;
        var shape = Shapes["apis"]![api]!;
        var sent = shape["body"]!.AsObject().Select(p => p.Key).Concat(shape["streamBody"]!.AsObject().Select(p => p.Key)).ToList();

        var unknown = sent.Where(f => !allowed.Contains(f)).ToList();
        Assert.True(unknown.Count == 0, $"{api} sends fields the server does not define: {string.Join(", ", unknown)}");
        Assert.Contains("model", sent);
        Assert.Contains("max_tokens", sent);
        Assert.Contains("seed", sent);
        Assert.True((bool?)shape["streamBody"]!["stream"]);
        Assert.True((bool?)shape["streamBody"]!["stream_options"]!["include_usage"]);
    }

    [Theory]
    [InlineData("completions")]
    [InlineData("chat")]
    public void PromptPath_PointsAtATextFieldOfTheBodyTemplate(string api)
    {
        var shape = Shapes["apis"]![api]!;
        JsonNode? node = shape["body"];
        foreach (var key in ((string)shape["promptPath"]!).Split('.'))
        {
            node = int.TryParse(key, out var index) ? node?.AsArray()[index] : node?[key];
        }

        Assert.False(string.IsNullOrWhiteSpace((string?)node));
    }

    [Theory]
    [InlineData("completions", "text_completion", "text_completion", "text")]
    [InlineData("chat", "chat.completion", "chat.completion.chunk", "message.content")]
    public void ResponseShapes_NameTheOpenAiObjectsAndFields(string api, string responseObject, string chunkObject, string textPath)
    {
        var shape = Shapes["apis"]![api]!;
        Assert.Equal(responseObject, (string?)shape["response"]!["object"]);
        Assert.Equal(chunkObject, (string?)shape["chunk"]!["object"]);
        Assert.Equal(textPath, (string?)shape["response"]!["textPath"]);
        var fields = shape["response"]!["fields"]!.AsArray().Select(f => (string?)f).ToList();
        foreach (var required in new[] { "id", "object", "created", "model", "choices", "usage" })
        {
            Assert.Contains(required, fields);
        }

        Assert.Contains("finish_reason", shape["response"]!["choiceFields"]!.AsArray().Select(f => (string?)f));
        Assert.Equal(["prompt_tokens", "completion_tokens", "total_tokens"], Shapes["usageFields"]!.AsArray().Select(f => (string?)f));
        Assert.Equal("length", (string?)Shapes["truncatedFinishReason"]);
    }

    [Fact]
    public void Scripts_HardCodeNoEndpointPaths_TheyAllComeFromRequestsJson()
    {
        var offenders = new List<string>();
        foreach (var file in RepositoryPaths.Files("loadtest", "*.js"))
        {
            var code = StripComments(RepositoryPaths.Read(file));
            foreach (Match literal in StringLiteral().Matches(code))
            {
                if (EndpointLike().IsMatch(literal.Value))
                {
                    offenders.Add($"{file}: {literal.Value}");
                }
            }
        }

        Assert.True(offenders.Count == 0, $"endpoint paths belong in loadtest/requests.json:\n{string.Join('\n', offenders)}");
    }

    [Theory]
    [InlineData("loadtest/completions.js", "readCompletion")]
    [InlineData("loadtest/streaming.js", "readStream")]
    public void EntryScripts_BuildAndCheckThroughTheSharedShapes(string script, string reader)
    {
        var code = StripComments(RepositoryPaths.Read(script));

        Assert.Contains("open('./requests.json')", code, StringComparison.Ordinal);
        Assert.Contains("buildBody(api,", code, StringComparison.Ordinal);
        Assert.Contains($"{reader}(shapes, api,", code, StringComparison.Ordinal);
        Assert.Contains("`${config.baseUrl}${api.path}`", code, StringComparison.Ordinal);
    }

    /// <summary>Removes // line comments (not the // in "http://") and /* */ blocks.</summary>
    private static string StripComments(string code) => LineComment().Replace(BlockComment().Replace(code, ""), "");

    [GeneratedRegex(@"/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex BlockComment();

    [GeneratedRegex(@"(^|\s)//.*$", RegexOptions.Multiline)]
    private static partial Regex LineComment();

    [GeneratedRegex(@"'(?:[^'\\\n]|\\.)*'|""(?:[^""\\\n]|\\.)*""|`(?:[^`\\]|\\.)*`")]
    private static partial Regex StringLiteral();

    [GeneratedRegex(@"(?<![\w.-])/(v1/|health/|metrics\b)")]
    private static partial Regex EndpointLike();
}
