using System.Text;
using MoeServe.Server.Api;

namespace MoeServe.Server.Tests.Api;

public sealed class RequestParserTests
{
    private static (GenerationSpec? Spec, ApiError? Error) Completion(string json) => RequestParser.ParseCompletion(Encoding.UTF8.GetBytes(json));

    private static (GenerationSpec? Spec, ApiError? Error) Chat(string json) => RequestParser.ParseChat(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void ParseCompletion_FullRequest_ReadsEveryField()
    {
        var (spec, error) = Completion("""{"model":"m","prompt":"Hi","max_tokens":5,"temperature":0.7,"top_p":0.9,"top_k":3,"seed":42,"stop":["a","b"],"stream":true,"stream_options":{"include_usage":true},"logprobs":2,"echo":true,"n":1,"user":"u","ignore_eos":true}""");

        Assert.Null(error);
        Assert.NotNull(spec);
        Assert.Equal("Hi", spec.PromptText);
        Assert.Equal(5, spec.MaxTokens);
        Assert.Equal(0.7, spec.Temperature);
        Assert.Equal(0.9, spec.TopP);
        Assert.Equal(3, spec.TopK);
        Assert.Equal(42, spec.Seed);
        Assert.Equal(["a", "b"], spec.Stop);
        Assert.True(spec.Stream);
        Assert.True(spec.IncludeUsage);
        Assert.Equal(2, spec.Logprobs);
        Assert.True(spec.Echo);
        Assert.True(spec.IgnoreEos);
    }

    [Theory]
    [InlineData("""{"prompt":"x"}""", false)]
    [InlineData("""{"prompt":"x","ignore_eos":null}""", false)]
    [InlineData("""{"prompt":"x","ignore_eos":false}""", false)]
    [InlineData("""{"prompt":"x","ignore_eos":true}""", true)]
    public void ParseCompletion_IgnoreEos_DefaultsToFalse(string json, bool expected)
    {
        var (spec, error) = Completion(json);
        Assert.Null(error);
        Assert.Equal(expected, spec!.IgnoreEos);
    }

    [Theory]
    [InlineData("""{"prompt":"x","ignore_eos":"true"}""")]
    [InlineData("""{"prompt":"x","ignore_eos":1}""")]
    [InlineData("""{"prompt":"x","ignore_eos":[true]}""")]
    public void ParseCompletion_IgnoreEosNotABoolean_NamesTheField(string json)
    {
        var (spec, error) = Completion(json);
        Assert.Null(spec);
        Assert.Equal("ignore_eos", error!.Param);
        Assert.Equal("invalid_type", error.Code);
    }

    [Fact]
    public void ParseChat_IgnoreEos_Read()
    {
        var (spec, error) = Chat("""{"messages":[{"role":"user","content":"x"}],"ignore_eos":true}""");
        Assert.Null(error);
        Assert.True(spec!.IgnoreEos);
    }

    [Fact]
    public void ParseCompletion_TokenArrayPrompt_ReadsTokens()
    {
        var (spec, error) = Completion("""{"prompt":[1,2,3]}""");
        Assert.Null(error);
        Assert.Equal([1, 2, 3], spec!.PromptTokens);
    }

    [Theory]
    [InlineData("""{"prompt":"x","max_tokens":0}""", "max_tokens")]
    [InlineData("""{"prompt":"x","max_tokens":"ten"}""", "max_tokens")]
    [InlineData("""{"prompt":"x","max_tokens":1.5}""", "max_tokens")]
    [InlineData("""{"prompt":"x","temperature":2.5}""", "temperature")]
    [InlineData("""{"prompt":"x","temperature":-0.1}""", "temperature")]
    [InlineData("""{"prompt":"x","top_p":0}""", "top_p")]
    [InlineData("""{"prompt":"x","top_p":1.01}""", "top_p")]
    [InlineData("""{"prompt":"x","top_k":-1}""", "top_k")]
    [InlineData("""{"prompt":""}""", "prompt")]
    [InlineData("""{"prompt":[]}""", "prompt")]
    [InlineData("""{"prompt":42}""", "prompt")]
    [InlineData("""{"prompt":["a","b"]}""", "prompt")]
    [InlineData("""{"prompt":[1,"a"]}""", "prompt[1]")]
    [InlineData("""{"max_tokens":3}""", "prompt")]
    [InlineData("""{"prompt":"x","n":2}""", "n")]
    [InlineData("""{"prompt":"x","stop":["a","b","c","d","e"]}""", "stop")]
    [InlineData("""{"prompt":"x","stop":""}""", "stop")]
    [InlineData("""{"prompt":"x","stop":[1]}""", "stop[0]")]
    [InlineData("""{"prompt":"x","stop":5}""", "stop")]
    [InlineData("""{"prompt":"x","logprobs":6}""", "logprobs")]
    [InlineData("""{"prompt":"x","stream_options":{"include_usage":true}}""", "stream_options")]
    [InlineData("""{"prompt":"x","stream":"yes"}""", "stream")]
    [InlineData("""{"prompt":"x","logit_bias":{"1":5}}""", "logit_bias")]
    [InlineData("""{"prompt":"x","suffix":"y"}""", "suffix")]
    [InlineData("""{"prompt":"x","best_of":3}""", "best_of")]
    [InlineData("""{"prompt":"x","presence_penalty":0.5}""", "presence_penalty")]
    public void ParseCompletion_BadField_Returns400NamingIt(string json, string param)
    {
        var (spec, error) = Completion(json);
        Assert.Null(spec);
        Assert.NotNull(error);
        Assert.Equal(400, error.Status);
        Assert.Equal("invalid_request_error", error.Type);
        Assert.Equal(param, error.Param);
        Assert.Contains(param.Split('[')[0], error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("[1,2]")]
    [InlineData("null")]
    [InlineData("{\"prompt\":\"x\",}")]
    [InlineData("not json")]
    public void ParseCompletion_MalformedJson_Returns400(string json)
    {
        var (spec, error) = Completion(json);
        Assert.Null(spec);
        Assert.Equal(400, error!.Status);
    }

    [Fact]
    public void ParseCompletion_InvalidUtf8_Returns400InvalidEncoding()
    {
        byte[] body = [.. "{\"prompt\":\""u8, 0xC3, 0x28, .. "\"}"u8];
        var (spec, error) = RequestParser.ParseCompletion(body);
        Assert.Null(spec);
        Assert.Equal("invalid_encoding", error!.Code);
    }

    [Fact]
    public void ParseChat_MessagesWithPartsAndDeveloperRole_Normalised()
    {
        var (spec, error) = Chat("""{"messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hello "},{"type":"text","text":"there"}]}],"max_completion_tokens":7,"max_tokens":3}""");
        Assert.Null(error);
        Assert.Equal([new ChatTurn("system", "Be brief."), new ChatTurn("user", "Hello there")], spec!.Messages);
        Assert.Equal(7, spec.MaxTokens);
    }

    [Theory]
    [InlineData("""{}""", "messages")]
    [InlineData("""{"messages":[]}""", "messages")]
    [InlineData("""{"messages":"hi"}""", "messages")]
    [InlineData("""{"messages":[{"content":"hi"}]}""", "messages[0].role")]
    [InlineData("""{"messages":[{"role":"wizard","content":"hi"}]}""", "messages[0].role")]
    [InlineData("""{"messages":[{"role":"user"}]}""", "messages[0].content")]
    [InlineData("""{"messages":[{"role":"user","content":5}]}""", "messages[0].content")]
    [InlineData("""{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}""", "messages[0].content[0].type")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"logprobs":true}""", "logprobs")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function"}]}""", "tools")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}""", "response_format")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":0}""", "max_completion_tokens")]
    public void ParseChat_BadField_Returns400NamingIt(string json, string param)
    {
        var (spec, error) = Chat(json);
        Assert.Null(spec);
        Assert.Equal(400, error!.Status);
        Assert.Equal(param, error.Param);
    }
}
