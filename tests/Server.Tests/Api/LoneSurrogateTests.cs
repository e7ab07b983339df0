using System.Text;
using MoeServe.Server.Api;

namespace MoeServe.Server.Tests.Api;

/// <summary>
/// JSON may spell a UTF-16 code unit as \uXXXX, so valid UTF-8 bytes can still encode an unpaired
/// surrogate, which has no string value: every string field must turn that into a 400 naming the field.
/// </summary>
public sealed class LoneSurrogateTests
{
    [Theory]
    [InlineData("""{"prompt":"\ud800"}""", "prompt")]
    [InlineData("""{"prompt":"\udc00"}""", "prompt")]
    [InlineData("""{"prompt":"a\ud800b"}""", "prompt")]
    [InlineData("""{"prompt":"a\udbff"}""", "prompt")]
    [InlineData("""{"prompt":"\ud800\ud800"}""", "prompt")]
    [InlineData("""{"prompt":"\udc00\ud800"}""", "prompt")]
    [InlineData("""{"prompt":"\ud800\n"}""", "prompt")]
    [InlineData("""{"prompt":["\ud800"]}""", "prompt[0]")]
    [InlineData("""{"prompt":"x","stop":"\ud800"}""", "stop")]
    [InlineData("""{"prompt":"x","stop":["a","\udfff"]}""", "stop[1]")]
    [InlineData("""{"prompt":"x","model":"\ud800"}""", "model")]
    [InlineData("""{"prompt":"x","user":"\ud800"}""", "user")]
    [InlineData("""{"prompt":"x","stream":true,"stream_options":{"note":"\ud800"}}""", "stream_options.note")]
    [InlineData("""{"prompt":"x","suffix":"\ud800"}""", "suffix")]
    [InlineData("""{"prompt":"x","metadata":{"a":["\ud800"]}}""", "metadata.a[0]")]
    public void ParseCompletion_LoneSurrogate_Returns400NamingTheField(string json, string param)
    {
        var (spec, error) = RequestParser.ParseCompletion(Encoding.UTF8.GetBytes(json));

        AssertSurrogateError(spec, error, param);
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"\ud800"}]}""", "messages[0].content")]
    [InlineData("""{"messages":[{"role":"user","content":"ok"},{"role":"user","content":"x\udc00"}]}""", "messages[1].content")]
    [InlineData("""{"messages":[{"role":"\ud800","content":"x"}]}""", "messages[0].role")]
    [InlineData("""{"messages":[{"role":"user","name":"\ud800","content":"x"}]}""", "messages[0].name")]
    [InlineData("""{"messages":[{"role":"user","content":[{"type":"text","text":"\ud800"}]}]}""", "messages[0].content[0].text")]
    [InlineData("""{"messages":[{"role":"user","content":[{"type":"\ud800","text":"x"}]}]}""", "messages[0].content[0].type")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"stop":["\ud800"]}""", "stop[0]")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"model":"\ud800"}""", "model")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"\ud800"}}""", "response_format.type")]
    public void ParseChat_LoneSurrogate_Returns400NamingTheField(string json, string param)
    {
        var (spec, error) = RequestParser.ParseChat(Encoding.UTF8.GetBytes(json));

        AssertSurrogateError(spec, error, param);
    }

    [Theory]
    [InlineData("""{"prompt":"x","\ud800":1}""", null)]
    [InlineData("""{"prompt":"x","logit_bias":{"\udc00":1}}""", "logit_bias")]
    public void ParseCompletion_LoneSurrogateInPropertyName_Returns400(string json, string? param)
    {
        var (spec, error) = RequestParser.ParseCompletion(Encoding.UTF8.GetBytes(json));

        AssertSurrogateError(spec, error, param);
    }

    [Theory]
    [InlineData("""{"prompt":"\ud83d\ude00"}""", "\U0001F600")]
    [InlineData("""{"prompt":"a\u00e9\\u\ud800\udc00b"}""", "a\u00e9\\u\U00010000b")]
    [InlineData("""{"prompt":"\\ud800"}""", "\\ud800")]
    public void ParseCompletion_PairedOrEscapedBackslash_IsAccepted(string json, string expected)
    {
        var (spec, error) = RequestParser.ParseCompletion(Encoding.UTF8.GetBytes(json));

        Assert.Null(error);
        Assert.Equal(expected, spec!.PromptText);
    }

    [Theory]
    [InlineData("""{"prompt":"x","presence_penalty":1e400}""", "presence_penalty")]
    [InlineData("""{"prompt":"x","frequency_penalty":-1e400}""", "frequency_penalty")]
    [InlineData("""{"prompt":"x","temperature":1e400}""", "temperature")]
    [InlineData("""{"prompt":"x","seed":9223372036854775808}""", "seed")]
    [InlineData("""{"prompt":"x","max_tokens":1e400}""", "max_tokens")]
    public void ParseCompletion_NumberOutOfRange_Returns400NamingTheField(string json, string param)
    {
        var (spec, error) = RequestParser.ParseCompletion(Encoding.UTF8.GetBytes(json));

        Assert.Null(spec);
        Assert.NotNull(error);
        Assert.Equal(400, error.Status);
        Assert.Equal("invalid_request_error", error.Type);
        Assert.Equal(param, error.Param);
    }

    private static void AssertSurrogateError(GenerationSpec? spec, ApiError? error, string? param)
    {
        Assert.Null(spec);
        Assert.NotNull(error);
        Assert.Equal(400, error.Status);
        Assert.Equal("invalid_request_error", error.Type);
        Assert.Equal("invalid_encoding", error.Code);
        Assert.Equal(param, error.Param);
        Assert.Contains("surrogate", error.Message, StringComparison.Ordinal);
    }
}
