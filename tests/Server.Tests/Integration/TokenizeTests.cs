using System.Net;
using System.Text;
using System.Text.Json;
using MoeServe.Server.Api;
using MoeServe.Server.Tests.Support;

namespace MoeServe.Server.Tests.Integration;

/// <summary>
/// vLLM-compatible POST /tokenize and /detokenize on the tiny model, whose tokenizer has one token per UTF-8 byte
/// (ids 0-255) plus &lt;|endoftext|&gt; = 256, and whose chat template is the simple "Role: text\n\n" format.
/// </summary>
public sealed class TokenizeTests(SharedServer server) : IClassFixture<SharedServer>
{
    private const string Conversation = """[{"role":"system","content":"Be brief."},{"role":"user","content":"Who made the light?"}]""";

    // The simple template of the tiny model's manifest, written out by hand.
    private const string RenderedConversation = "System: Be brief.\n\nUser: Who made the light?\n\n";

    private readonly HttpClient _client = server.Client;

    [Theory]
    [InlineData("In the beginning")]
    [InlineData("h\u00e9llo \u4e16\u754c \ud83d\ude00 tabs\tand\nnewlines")]
    [InlineData("two<|endoftext|>documents")]
    public async Task Tokenize_ThenDetokenize_GivesThePromptBack(string prompt)
    {
        var tokenized = await Http.PostOkAsync(_client, "/tokenize", JsonSerializer.Serialize(new { prompt }));
        var tokens = Ids(tokenized);

        Assert.Equal(tokens.Length, tokenized.GetProperty("count").GetInt32());
        Assert.Equal(TinyServerModel.ContextLength, tokenized.GetProperty("max_model_len").GetInt32());
        Assert.False(tokenized.TryGetProperty("token_strs", out _));
        Assert.Equal(ByteIds(prompt), tokens);

        var detokenized = await Http.PostOkAsync(_client, "/detokenize", JsonSerializer.Serialize(new { model = TinyServerModel.Name, tokens }));
        Assert.Equal(prompt, detokenized.GetProperty("prompt").GetString());
    }

    [Fact]
    public async Task Tokenize_ReturnTokenStrs_GivesOneStringPerToken()
    {
        var body = await Http.PostOkAsync(_client, "/tokenize", """{"prompt":"Let there be<|endoftext|>\u00e9","return_token_strs":true}""");

        // A byte of a two-byte character is no text on its own: U+FFFD, as a lossy UTF-8 decode shows it.
        var strings = body.GetProperty("token_strs").EnumerateArray().Select(s => s.GetString()!).ToArray();
        Assert.Equal(["L", "e", "t", " ", "t", "h", "e", "r", "e", " ", "b", "e", "<|endoftext|>", "\ufffd", "\ufffd"], strings);
        Assert.Equal(strings.Length, body.GetProperty("count").GetInt32());
    }

    [Fact]
    public async Task Tokenize_Messages_AreExactlyWhatTheChatEndpointFeedsTheModel()
    {
        var tokenized = await Http.PostOkAsync(_client, "/tokenize", $$"""{"model":"tiny","messages":{{Conversation}},"add_generation_prompt":true}""");
        var chat = await Http.PostOkAsync(_client, "/v1/chat/completions", $$"""{"messages":{{Conversation}},"max_tokens":1,"temperature":0}""");
        var tokens = Ids(tokenized);

        Assert.Equal(chat.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), tokenized.GetProperty("count").GetInt32());
        var rendered = server.Factory.Model.ChatPrompt.Render([new ChatTurn("system", "Be brief."), new ChatTurn("user", "Who made the light?")]);
        Assert.Equal(RenderedConversation + "Assistant:", rendered);
        Assert.Equal(server.Factory.Model.Engine.EncodePrompt(rendered), tokens);
        Assert.Equal(ByteIds(rendered), tokens);

        var detokenized = await Http.PostOkAsync(_client, "/detokenize", JsonSerializer.Serialize(new { tokens }));
        Assert.Equal(rendered, detokenized.GetProperty("prompt").GetString());
    }

    [Fact]
    public async Task Tokenize_MessagesWithoutGenerationPrompt_EndAfterTheLastMessage()
    {
        var defaulted = await Http.PostOkAsync(_client, "/tokenize", $$"""{"messages":{{Conversation}}}""");
        var without = await Http.PostOkAsync(_client, "/tokenize", $$"""{"messages":{{Conversation}},"add_generation_prompt":false}""");

        Assert.Equal(ByteIds(RenderedConversation + "Assistant:"), Ids(defaulted));
        Assert.Equal(ByteIds(RenderedConversation), Ids(without));
    }

    [Theory]
    [InlineData("/tokenize", "{\"prompt\":", null, "invalid_json")]
    [InlineData("/tokenize", "[]", null, "invalid_json")]
    [InlineData("/tokenize", "{}", "prompt", "missing_required_parameter")]
    [InlineData("/tokenize", "{\"prompt\":5}", "prompt", "invalid_type")]
    [InlineData("/tokenize", "{\"prompt\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "prompt", "invalid_value")]
    [InlineData("/tokenize", "{\"prompt\":\"a\\ud800b\"}", "prompt", "invalid_encoding")]
    [InlineData("/tokenize", "{\"prompt\":\"x\",\"add_generation_prompt\":true}", "add_generation_prompt", "invalid_value")]
    [InlineData("/tokenize", "{\"prompt\":\"x\",\"add_special_tokens\":\"yes\"}", "add_special_tokens", "invalid_type")]
    [InlineData("/tokenize", "{\"messages\":[]}", "messages", "invalid_value")]
    [InlineData("/tokenize", "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", "messages[0].role", "invalid_value")]
    [InlineData("/tokenize", "{\"messages\":[{\"role\":\"user\",\"content\":\"\\udc00\"}]}", "messages[0].content", "invalid_encoding")]
    [InlineData("/tokenize", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"continue_final_message\":true}", "continue_final_message", "unsupported_parameter")]
    [InlineData("/tokenize", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"chat_template\":\"{{ 1 }}\"}", "chat_template", "unsupported_parameter")]
    [InlineData("/detokenize", "{}", "tokens", "missing_required_parameter")]
    [InlineData("/detokenize", "{\"tokens\":\"72 105\"}", "tokens", "invalid_type")]
    [InlineData("/detokenize", "{\"tokens\":[72,-1]}", "tokens[1]", "invalid_value")]
    [InlineData("/detokenize", "{\"tokens\":[72,272]}", "tokens[1]", "invalid_value")]
    [InlineData("/detokenize", "{\"tokens\":[2147483648]}", "tokens[0]", "invalid_type")]
    [InlineData("/detokenize", "{\"tokens\":[1.5]}", "tokens[0]", "invalid_type")]
    [InlineData("/detokenize", "{\"tokens\":[\"\\ud800\"]}", "tokens[0]", "invalid_encoding")]
    [InlineData("/detokenize", "{\"tokens\":[72],\"model\":7}", "model", "invalid_type")]
    public async Task Post_BadBody_Returns400NamingTheField(string path, string json, string? param, string code)
    {
        var (status, body) = await Http.PostAsync(_client, path, json);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = Http.AssertError(body);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.Equal(param, error.GetProperty("param").ValueKind == JsonValueKind.Null ? null : error.GetProperty("param").GetString());
    }

    [Theory]
    [InlineData("/tokenize", "{\"model\":\"other\",\"prompt\":\"x\"}")]
    [InlineData("/detokenize", "{\"model\":\"other\",\"tokens\":[72]}")]
    public async Task Post_OtherModel_Is404NamingModel(string path, string json)
    {
        var (status, body) = await Http.PostAsync(_client, path, json);

        Assert.Equal(HttpStatusCode.NotFound, status);
        var error = Http.AssertError(body);
        Assert.Equal("model", error.GetProperty("param").GetString());
        Assert.Equal("model_not_found", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Tokenize_BodyOverTheLimit_Is413()
    {
        var prompt = new string('a', (1 << 20) + 10);
        var (status, body) = await Http.PostAsync(_client, "/tokenize", $$"""{"prompt":"{{prompt}}"}""");

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal("request_too_large", Http.AssertError(body).GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("/tokenize")]
    [InlineData("/detokenize")]
    public async Task Get_Is405AllowingPost(string path)
    {
        using var response = await _client.GetAsync(path);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("POST", response.Content.Headers.Allow.Single());
    }

    [Fact]
    public async Task Detokenize_IdsPastTheTokenizerButInsideTheModelVocabulary_AnswerWithoutServerError()
    {
        // The tiny model has 272 logits but 257 tokens: ids 257-271 are padding the tokenizer does not know.
        var (status, body) = await Http.PostAsync(_client, "/detokenize", """{"tokens":[72,257,271,105]}""");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.StartsWith("H", body.GetProperty("prompt").GetString(), StringComparison.Ordinal);
    }

    private static int[] Ids(JsonElement body) => [.. body.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32())];

    private static int[] ByteIds(string text) =>
        [.. text.Split("<|endoftext|>").SelectMany((part, i) => (i > 0 ? [256] : Array.Empty<int>()).Concat(Encoding.UTF8.GetBytes(part).Select(b => (int)b)))];
}
