using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using MoeServe.Server.Tests.Support;

namespace MoeServe.Server.Tests.Integration;

public sealed class BadInputTests(SharedServer server) : IClassFixture<SharedServer>
{
    private readonly HttpClient _client = server.Client;

    [Theory]
    [InlineData("/v1/completions", "{\"prompt\":", null, "invalid_json")]
    [InlineData("/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":\"many\"}", "max_tokens", "invalid_type")]
    [InlineData("/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":0}", "max_tokens", "invalid_value")]
    [InlineData("/v1/completions", "{\"prompt\":\"x\",\"ignore_eos\":\"yes\"}", "ignore_eos", "invalid_type")]
    [InlineData("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"ignore_eos\":1}", "ignore_eos", "invalid_type")]
    [InlineData("/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":600}", "max_tokens", "context_length_exceeded")]
    [InlineData("/v1/completions", "{\"prompt\":\"x\",\"temperature\":3}", "temperature", "invalid_value")]
    [InlineData("/v1/completions", "{\"prompt\":\"x\",\"top_p\":0}", "top_p", "invalid_value")]
    [InlineData("/v1/completions", "{\"prompt\":\"\"}", "prompt", "invalid_value")]
    [InlineData("/v1/completions", "{\"prompt\":[999]}", "prompt[0]", "invalid_value")]
    [InlineData("/v1/completions", "{\"prompt\":\"x\",\"n\":3}", "n", "unsupported_parameter")]
    [InlineData("/v1/completions", "{\"prompt\":\"x\",\"logit_bias\":{\"5\":1}}", "logit_bias", "unsupported_parameter")]
    [InlineData("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_completion_tokens\":-1}", "max_completion_tokens", "invalid_value")]
    [InlineData("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_completion_tokens\":100000}", "max_completion_tokens", "context_length_exceeded")]
    [InlineData("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":100000}", "max_tokens", "context_length_exceeded")]
    [InlineData("/v1/chat/completions", "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", "messages[0].role", "invalid_value")]
    [InlineData("/v1/chat/completions", "{\"messages\":{}}", "messages", "invalid_type")]
    [InlineData("/v1/chat/completions", "[]", null, "invalid_json")]
    public async Task Post_BadBody_Returns400NamingTheField(string path, string json, string? param, string code)
    {
        var (status, body) = await Http.PostAsync(_client, path, json);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = Http.AssertError(body);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(code, error.GetProperty("code").GetString());
        if (param is null)
        {
            Assert.Equal(JsonValueKind.Null, error.GetProperty("param").ValueKind);
        }
        else
        {
            Assert.Equal(param, error.GetProperty("param").GetString());
        }
    }

    [Fact]
    public async Task Completions_PromptLongerThanContext_Returns400()
    {
        var prompt = new string('a', TinyServerModel.ContextLength + 10);
        var (status, body) = await Http.PostAsync(_client, "/v1/completions", $$"""{"prompt":"{{prompt}}"}""");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = Http.AssertError(body);
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
        Assert.Equal("prompt", error.GetProperty("param").GetString());
        Assert.Contains(TinyServerModel.ContextLength.ToString(System.Globalization.CultureInfo.InvariantCulture), error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/v1/completions")]
    [InlineData("/v1/chat/completions")]
    public async Task Generation_PromptFarLongerThanContext_Returns400WithoutCountingEveryToken(string path)
    {
        // Encoding stops at the context length: the message says "N or more" instead of the full count.
        var text = string.Concat(Enumerable.Repeat("ab ", 200_000));
        var json = path.Contains("chat", StringComparison.Ordinal)
            ? $$"""{"messages":[{"role":"user","content":"{{text}}"}]}"""
            : $$"""{"prompt":"{{text}}"}""";
        var (status, body) = await Http.PostAsync(_client, path, json);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = Http.AssertError(body);
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
        Assert.Contains($"{TinyServerModel.ContextLength} or more tokens", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Completions_UnknownModel_Returns404()
    {
        var (status, body) = await Http.PostAsync(_client, "/v1/completions", """{"model":"gpt-9","prompt":"x"}""");

        Assert.Equal(HttpStatusCode.NotFound, status);
        var error = Http.AssertError(body);
        Assert.Equal("model_not_found", error.GetProperty("code").GetString());
        Assert.Equal("model", error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task UnknownRoute_Returns404WithErrorBody()
    {
        using var response = await _client.GetAsync("/v1/engines");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var message = Http.AssertError(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement).GetProperty("message").GetString();

        // The message points at every API route a client may have meant.
        foreach (var route in new[] { "GET /v1/models", "POST /v1/completions", "POST /v1/chat/completions", "POST /tokenize", "POST /detokenize" })
        {
            Assert.Contains(route, message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task WrongMethod_Returns405WithErrorBody()
    {
        using var response = await _client.GetAsync("/v1/completions");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Http.AssertError(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement);
    }

    [Theory]
    [InlineData("DELETE", "/v1/models/x", "GET")]
    [InlineData("POST", "/v1/models/tiny", "GET")]
    [InlineData("PUT", "/v1/models/x/", "GET")]
    [InlineData("POST", "/", "GET")]
    [InlineData("DELETE", "/v1/chat/completions", "POST")]
    public async Task WrongMethodOnAnyKnownRoute_Returns405WithAllow(string method, string path, string allow)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        using var response = await _client.SendAsync(request);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal([allow], response.Content.Headers.Allow);
        Assert.Equal("method_not_allowed", Http.AssertError(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement).GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("/v1/models/x/y")]
    [InlineData("/v1/modelsx")]
    public async Task NearMissOfATemplateRoute_Returns404(string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, path);
        using var response = await _client.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task OversizedBody_Returns413()
    {
        var json = "{\"prompt\":\"" + new string('x', 2 << 20) + "\"}";
        var (status, body) = await Http.PostAsync(_client, "/v1/completions", json);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal("request_too_large", Http.AssertError(body).GetProperty("code").GetString());
    }

    [Fact]
    public async Task InvalidUtf8_Returns400()
    {
        using var content = new ByteArrayContent([.. "{\"prompt\":\""u8, 0xFF, 0xFE, .. "\"}"u8]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await _client.PostAsync("/v1/completions", content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = Http.AssertError(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement);
        Assert.Equal("invalid_encoding", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task BadRequests_DoNotHurtTheServer()
    {
        string[] garbage = ["", "{", "\"text\"", "123", "{\"prompt\":{}}", "{\"messages\":[null]}", new string('[', 5000)];
        foreach (var g in garbage)
        {
            var (status, _) = await Http.PostAsync(_client, "/v1/completions", g);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            (status, _) = await Http.PostAsync(_client, "/v1/chat/completions", g);
            Assert.Equal(HttpStatusCode.BadRequest, status);
        }

        await Http.PostOkAsync(_client, "/v1/completions", """{"prompt":"still alive","max_tokens":2}""");
    }
}
