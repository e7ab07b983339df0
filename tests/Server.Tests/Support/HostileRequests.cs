using System.Globalization;
using System.Text;

namespace MoeServe.Server.Tests.Support;

/// <summary>One fuzzed request. <see cref="Cut"/> set: send it over a raw socket, stop after that many body bytes and hang up.</summary>
public sealed record FuzzCase(string Kind, string Method, string Path, byte[]? Body, string? ContentType, bool Chunked = false, int? Cut = null, Hangup Hangup = Hangup.Close);

/// <summary>
/// A seeded generator of malformed and hostile requests (to the generation endpoints and to /tokenize and /detokenize): mutations of valid ones (a field replaced by a
/// value of another type, removed, duplicated, or an unknown one added), broken JSON, bad UTF-8, unpaired
/// surrogates, extreme numbers, deep nesting, huge bodies, wrong content types, methods and paths, and
/// bodies cut mid-way. The same seed gives the same requests.
/// </summary>
public sealed class HostileRequests(int seed, long maxBodyBytes)
{
    private static readonly string[] Words = ["in", "the", "beginning", "light", "and", "water", "blessed", "are", "they", "who", "seek"];

    private static readonly string[] Numbers =
    [
        "0", "-0", "1", "-1", "2", "3", "1.5", "-2.5", "0.5", "1e2", "1E-2", "2147483647", "2147483648", "-2147483649",
        "9223372036854775807", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
        "123456789012345678901234567890", "1e400", "-1e400", "1e-400", "4.9e-324", "1.7976931348623157e308", "0.000001",
    ];

    // Not JSON: every one must be a 400 invalid_json wherever it appears.
    private static readonly string[] BadLiterals = ["NaN", "Infinity", "-Infinity", "nan", "undefined", "True", "01", ".5", "+1", "0x10", "1e", "-", "'x'", "None"];

    private static readonly string[] Strings =
    [
        "\"\"", "\"x\"", "\"tiny\"", "\"user\"", "\"system\"", "\"assistant\"", "\"text\"", "\"\\u0000\"", "\"\\u001f\\t\\n\"", "\"\\\\\"", "\"\\/\"",
        "\"h\u00e9llo \u4e16\u754c \\ud83d\\ude00\"", "\"\\ud800\"", "\"\\udc00\"", "\"a\\ud800b\"", "\"\\udbff\\udbff\"", "\"\\udfff\\ud800\"", "\"\\ud83d\"",
        "\"\u202e\u0301\ufeff\"", "\"1e400\"", "\"NaN\"", "\"null\"", "\"[DONE]\"",
    ];

    private static readonly string[] Keys =
    [
        "prompt", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "seed", "stop", "stream",
        "stream_options", "n", "best_of", "logprobs", "top_logprobs", "echo", "user", "model", "suffix", "logit_bias", "tools",
        "presence_penalty", "frequency_penalty", "response_format", "x", "", "\\ud800", "\\u0000", "__proto__", "PROMPT", "max-tokens",
        "tokens", "add_generation_prompt", "add_special_tokens", "return_token_strs", "continue_final_message", "chat_template", "chat_template_kwargs",
    ];

    private static readonly string[] ContentTypes =
    [
        "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml",
        "application/json; charset=utf-16", "application/json; charset=latin1", "garbage///", "*/*", "",
    ];

    private static readonly string[] Methods = ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "FOO", "POST"];

    private static readonly string[] Paths =
    [
        "/v1/completions", "/v1/chat/completions", "/v1/models", "/v1/models/tiny", "/v1/models/nope", "/health/live", "/health/ready",
        "/metrics", "/", "/dashboard", "/dashboard/data", "/v1/completions/", "/v1//completions", "/v1/completions?stream=true",
        "/v1/COMPLETIONS", "/v2/completions", "/v1/engines", "/v1/models/%2e%2e", "/v1/models/" + new string('a', 2000), "/%00",
        "/tokenize", "/detokenize", "/v1/tokenize", "/tokenize/", "/DETOKENIZE",
    ];

    private readonly Random _rng = new(seed);

    /// <summary>The next request.</summary>
    public FuzzCase Next()
    {
        var roll = _rng.Next(100);
        return roll switch
        {
            < 41 => Mutated(),
            < 51 => Structural(),
            < 59 => SurrogateField(),
            < 66 => WithNumbers(),
            < 73 => WrongContentType(),
            < 83 => WrongRoute(),
            < 85 => Huge(),
            < 93 => Tokenize(),
            _ => Cut(),
        };
    }

    private FuzzCase Mutated()
    {
        var chat = _rng.Next(2) == 0;
        var fields = chat ? ValidChat() : ValidCompletion();
        var mutations = 1 + _rng.Next(3);
        for (var i = 0; i < mutations; i++)
        {
            Mutate(fields, chat);
        }

        return Post(chat, "mutated", Render(fields));
    }

    private void Mutate(List<(string Key, string Value)> fields, bool chat)
    {
        var at = _rng.Next(fields.Count);
        switch (_rng.Next(6))
        {
            case 0 or 1:
                fields[at] = (fields[at].Key, Value(2));
                break;
            case 2 when fields.Count > 1:
                fields.RemoveAt(at);
                break;
            case 3:
                fields.Add((Pick(Keys), Value(2)));
                break;
            case 4:
                fields.Add(fields[at]);
                break;
            default:
                if (chat)
                {
                    // Inside the conversation: a message or one of its fields of the wrong type.
                    var index = fields.FindIndex(f => f.Key == "messages");
                    if (index >= 0)
                    {
                        fields[index] = ("messages", MutatedMessages());
                    }
                }
                else
                {
                    fields.Add(("prompt", _rng.Next(2) == 0 ? "[" + string.Join(",", Enumerable.Range(0, 1 + _rng.Next(4)).Select(_ => Value(1))) + "]" : Value(2)));
                }

                break;
        }
    }

    private string MutatedMessages()
    {
        var messages = new List<string>();
        var count = 1 + _rng.Next(3);
        for (var i = 0; i < count; i++)
        {
            var parts = new List<(string, string)> { ("role", "\"user\""), ("content", _rng.Next(3) == 0 ? $$"""[{"type":"text","text":{{Text()}}}]""" : Text()) };
            var at = _rng.Next(parts.Count + 2);
            if (at < parts.Count)
            {
                parts[at] = (parts[at].Item1, _rng.Next(2) == 0 ? Value(2) : $$"""[{"type":{{Value(0)}},"text":{{Value(1)}}}]""");
            }
            else if (at == parts.Count)
            {
                parts.Add((Pick(["name", "tool_calls", "x", "role"]), Value(1)));
            }
            else
            {
                messages.Add(Value(1));
                continue;
            }

            messages.Add(Render(parts));
        }

        return "[" + string.Join(",", messages) + "]";
    }

    private FuzzCase Structural()
    {
        var chat = _rng.Next(2) == 0;
        var valid = Encoding.UTF8.GetBytes(Render(chat ? ValidChat() : ValidCompletion()));
        byte[] body;
        string kind;
        switch (_rng.Next(12))
        {
            case 0:
                kind = "truncated-json";
                body = valid[.._rng.Next(valid.Length)];
                break;
            case 1:
                kind = "deep-nesting";
                var depth = Pick([63, 64, 65, 1000, 10_000]);
                body = Encoding.ASCII.GetBytes(_rng.Next(2) == 0
                    ? new string('[', depth) + new string(']', depth)
                    : "{\"prompt\":" + string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth + 1));
                break;
            case 2:
                kind = "invalid-utf8";
                byte[][] bad = [[0xFF], [0xC0, 0x80], [0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xFE, 0xFF]];
                var cut = _rng.Next(valid.Length + 1);
                body = [.. valid[..cut], .. Pick(bad), .. valid[cut..]];
                break;
            case 3:
                kind = "random-bytes";
                body = new byte[1 + _rng.Next(300)];
                _rng.NextBytes(body);
                break;
            case 4:
                kind = "bom";
                body = [0xEF, 0xBB, 0xBF, .. valid];
                break;
            case 5:
                kind = "trailing";
                body = [.. valid, .. Encoding.UTF8.GetBytes(Pick(["x", "{}", ",", " ", "\u0000", "]"]))];
                break;
            case 6:
                kind = "comment-or-comma";
                var text = Encoding.UTF8.GetString(valid);
                body = Encoding.UTF8.GetBytes(_rng.Next(2) == 0 ? text.Insert(1, "/* c */") : text.Insert(text.Length - 1, ","));
                break;
            case 7:
                kind = "not-an-object";
                body = Encoding.UTF8.GetBytes(Pick(["", " ", "\n\t", "null", "true", "1", "\"x\"", "[]", "[{}]", "{}"]));
                break;
            case 8:
                kind = "bad-literal";
                body = Encoding.UTF8.GetBytes($$"""{"prompt":"x","{{Pick(["temperature", "top_p", "max_tokens", "seed", "presence_penalty"])}}":{{Pick(BadLiterals)}}}""");
                break;
            case 9:
                kind = "unknown-fields";
                var fields = chat ? ValidChat() : ValidCompletion();
                for (var i = _rng.Next(1, 50); i > 0; i--)
                {
                    fields.Add(("unknown_" + i.ToString(CultureInfo.InvariantCulture), Value(2)));
                }

                body = Encoding.UTF8.GetBytes(Render(fields));
                break;
            case 10:
                kind = "byte-flip";
                body = [.. valid];
                body[_rng.Next(body.Length)] = (byte)_rng.Next(256);
                break;
            default:
                kind = "nul-bytes";
                body = [.. valid];
                body[_rng.Next(body.Length)] = 0;
                break;
        }

        return Post(chat, kind, body);
    }

    private FuzzCase SurrogateField()
    {
        var chat = _rng.Next(2) == 0;
        var fields = chat ? ValidChat() : ValidCompletion();
        var lone = Pick(["\"\\ud800\"", "\"\\udc00\"", "\"a\\ud800b\"", "\"\\udbff\\udbff\"", "\"x\\ud83d\"", "\"\\udfff\\ud800\""]);
        var at = _rng.Next(6);
        if (at == 0)
        {
            fields.Add(("stop", "[\"a\"," + lone + "]"));
        }
        else if (at == 1)
        {
            fields.Add((Pick(["model", "user", "suffix", "x"]), lone));
        }
        else if (chat)
        {
            var index = fields.FindIndex(f => f.Key == "messages");
            fields[index] = ("messages", Pick([
                $$"""[{"role":"user","content":{{lone}}}]""",
                $$"""[{"role":{{lone}},"content":"x"}]""",
                $$"""[{"role":"user","content":[{"type":"text","text":{{lone}}}]}]""",
                $$"""[{"role":"user","content":"x","name":{{lone}}}]""",
            ]));
        }
        else
        {
            var index = fields.FindIndex(f => f.Key == "prompt");
            fields[index] = ("prompt", _rng.Next(2) == 0 ? lone : "[" + lone + "]");
        }

        return Post(chat, "lone-surrogate", Render(fields));
    }

    private FuzzCase WithNumbers()
    {
        var chat = _rng.Next(2) == 0;
        var fields = chat ? ValidChat() : ValidCompletion();
        var key = Pick(["max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "seed", "n", "logprobs", "presence_penalty", "frequency_penalty", "best_of", "top_logprobs"]);
        fields.RemoveAll(f => f.Key == key);
        fields.Add((key, Pick(Numbers)));
        if (!chat && _rng.Next(4) == 0)
        {
            var index = fields.FindIndex(f => f.Key == "prompt");
            fields[index] = ("prompt", "[" + string.Join(",", Enumerable.Range(0, 1 + _rng.Next(3)).Select(_ => Pick(Numbers))) + "]");
        }

        return Post(chat, "numbers", Render(fields));
    }

    // POST /tokenize and /detokenize: the same kinds of damage, aimed at their fields ("tokens" ids, the flags, messages).
    private FuzzCase Tokenize()
    {
        var detokenize = _rng.Next(3) == 0;
        var fields = detokenize ? ValidDetokenize() : ValidTokenize();
        var path = detokenize ? "/detokenize" : "/tokenize";
        string kind;
        switch (_rng.Next(6))
        {
            case 0 or 1:
                kind = "tok-mutated";
                for (var i = 1 + _rng.Next(3); i > 0; i--)
                {
                    Mutate(fields, chat: fields.Exists(f => f.Key == "messages"));
                }

                break;
            case 2:
                kind = "tok-surrogate";
                var lone = Pick(["\"\\ud800\"", "\"\\udc00\"", "\"a\\ud800b\"", "\"x\\ud83d\""]);
                var key = Pick(["model", "prompt", "tokens", "messages"]);
                fields.RemoveAll(f => f.Key == key);
                fields.Add((key, key switch
                {
                    "tokens" => "[72," + lone + "]",
                    "messages" => $$"""[{"role":"user","content":{{lone}}}]""",
                    _ => lone,
                }));
                break;
            case 3:
                kind = "tok-numbers";
                var numbers = "[" + string.Join(",", Enumerable.Range(0, 1 + _rng.Next(4)).Select(_ => _rng.Next(3) == 0 ? Pick(Numbers) : _rng.Next(-5, 300).ToString(CultureInfo.InvariantCulture))) + "]";
                fields.RemoveAll(f => f.Key == "tokens");
                fields.Add(detokenize ? ("tokens", numbers) : (Pick(["add_special_tokens", "add_generation_prompt", "return_token_strs"]), Pick(Numbers)));
                break;
            case 4:
                kind = "tok-structural";
                var valid = Encoding.UTF8.GetBytes(Render(fields));
                var cut = _rng.Next(valid.Length + 1);
                var body = _rng.Next(2) == 0 ? valid[..cut] : [.. valid[..cut], .. Pick<byte[]>([[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80]]), .. valid[cut..]];
                return new FuzzCase(kind, "POST", path, body, "application/json");
            default:
                // Over the body limit, declared or chunked: answered 413 (the connection may close under the rest).
                var prompt = Encoding.UTF8.GetBytes("{\"prompt\":\"" + new string('a', (int)maxBodyBytes + 100) + "\"}");
                return new FuzzCase("huge-over", "POST", "/tokenize", prompt, "application/json", Chunked: _rng.Next(2) == 0);
        }

        return new FuzzCase(kind, "POST", path, Encoding.UTF8.GetBytes(Render(fields)), "application/json");
    }

    private List<(string Key, string Value)> ValidTokenize()
    {
        var fields = _rng.Next(2) == 0
            ? new List<(string, string)> { ("prompt", Text()), ("add_special_tokens", Pick(["true", "false"])) }
            : [("messages", $$"""[{"role":"system","content":"Answer briefly."},{"role":"user","content":{{Text()}}}]"""), ("add_generation_prompt", Pick(["true", "false"]))];
        if (_rng.Next(2) == 0)
        {
            fields.Add(("return_token_strs", "true"));
        }

        if (_rng.Next(3) == 0)
        {
            fields.Add(("model", "\"tiny\""));
        }

        return fields;
    }

    private List<(string Key, string Value)> ValidDetokenize() =>
        [("tokens", "[" + string.Join(",", Enumerable.Range(0, 1 + _rng.Next(8)).Select(_ => _rng.Next(257).ToString(CultureInfo.InvariantCulture))) + "]")];

    private FuzzCase WrongContentType()
    {
        var chat = _rng.Next(2) == 0;
        var body = Encoding.UTF8.GetBytes(Render(chat ? ValidChat() : ValidCompletion()));
        return new FuzzCase("content-type", "POST", chat ? "/v1/chat/completions" : "/v1/completions", body, _rng.Next(8) == 0 ? null : Pick(ContentTypes));
    }

    private FuzzCase WrongRoute()
    {
        var method = Pick(Methods);
        var body = method is "GET" or "HEAD" || _rng.Next(2) == 0 ? null : Encoding.UTF8.GetBytes(Render(ValidCompletion()));
        return new FuzzCase("route", method, Pick(Paths), body, body is null ? null : "application/json");
    }

    private FuzzCase Huge()
    {
        // Just under and just over the limit, declared (Content-Length) or not (chunked, so only the reader can tell).
        var over = _rng.Next(2) == 0;
        var target = (int)maxBodyBytes + (over ? 100 : -100);
        var chat = _rng.Next(2) == 0;
        var filler = Pick(["a", "ab ", "\u00e9", "x\\n"]);
        var prefix = chat ? "{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"" : "{\"max_tokens\":1,\"prompt\":\"";
        var suffix = chat ? "\"}]}" : "\"}";
        var text = new StringBuilder(prefix);
        var block = string.Concat(Enumerable.Repeat(filler, 4096));
        var blockBytes = Encoding.UTF8.GetByteCount(block);
        var size = Encoding.UTF8.GetByteCount(prefix);
        while (size + blockBytes + suffix.Length < target)
        {
            text.Append(block);
            size += blockBytes;
        }

        var body = Encoding.UTF8.GetBytes(text.ToString());
        var padding = Math.Max(0, target - body.Length - suffix.Length);
        body = [.. body, .. Enumerable.Repeat((byte)'z', padding), .. Encoding.ASCII.GetBytes(suffix)];
        return Post(chat, over ? "huge-over" : "huge-under", body) with { Chunked = _rng.Next(2) == 0 };
    }

    private FuzzCase Cut()
    {
        var chat = _rng.Next(2) == 0;
        var body = Encoding.UTF8.GetBytes(Render(chat ? ValidChat() : ValidCompletion()));
        return Post(chat, "cut", body) with { Cut = _rng.Next(body.Length), Chunked = _rng.Next(2) == 0, Hangup = (Hangup)_rng.Next(3) };
    }

    private FuzzCase Post(bool chat, string kind, string json) => Post(chat, kind, Encoding.UTF8.GetBytes(json));

    private FuzzCase Post(bool chat, string kind, byte[] body) =>
        new(kind, "POST", chat ? "/v1/chat/completions" : "/v1/completions", body, "application/json");

    private List<(string Key, string Value)> ValidCompletion()
    {
        var fields = new List<(string, string)> { ("prompt", Text()), ("max_tokens", (1 + _rng.Next(3)).ToString(CultureInfo.InvariantCulture)) };
        AddSampling(fields);
        if (_rng.Next(4) == 0)
        {
            fields.Add(("logprobs", _rng.Next(3).ToString(CultureInfo.InvariantCulture)));
        }

        if (_rng.Next(4) == 0)
        {
            fields.Add(("echo", "true"));
        }

        return fields;
    }

    private List<(string Key, string Value)> ValidChat()
    {
        var fields = new List<(string, string)>
        {
            ("messages", $$"""[{"role":"system","content":"Answer briefly."},{"role":"user","content":{{Text()}}}]"""),
            (_rng.Next(2) == 0 ? "max_tokens" : "max_completion_tokens", (1 + _rng.Next(3)).ToString(CultureInfo.InvariantCulture)),
        };
        AddSampling(fields);
        return fields;
    }

    private void AddSampling(List<(string Key, string Value)> fields)
    {
        fields.Add(("temperature", Pick(["0", "0.7", "1"])));
        fields.Add(("seed", _rng.Next(1000).ToString(CultureInfo.InvariantCulture)));
        if (_rng.Next(3) == 0)
        {
            fields.Add(("stop", Pick(["\"\\n\"", "[\"a\",\"b\"]"])));
        }

        if (_rng.Next(3) == 0)
        {
            fields.Add(("stream", "true"));
            if (_rng.Next(2) == 0)
            {
                fields.Add(("stream_options", "{\"include_usage\":true}"));
            }
        }
    }

    // A JSON value of any type, as text; nesting bounded by depth.
    private string Value(int depth) => _rng.Next(depth > 0 ? 9 : 6) switch
    {
        0 => Pick(Numbers),
        1 => Pick(Strings),
        2 => Pick(["true", "false", "null"]),
        3 => _rng.Next(10) == 0 ? Pick(BadLiterals) : Pick(Numbers),
        4 => Text(),
        5 => _rng.Next(20) == 0 ? "\"" + new string('w', _rng.Next(1, 20_000)) + "\"" : Pick(Strings),
        6 => "[" + string.Join(",", Enumerable.Range(0, _rng.Next(4)).Select(_ => Value(depth - 1))) + "]",
        7 => "{" + string.Join(",", Enumerable.Range(0, _rng.Next(4)).Select(_ => $"\"{Pick(Keys)}\":{Value(depth - 1)}")) + "}",
        _ => _rng.Next(2) == 0 ? new string('[', 70) + new string(']', 70) : "{}",
    };

    private string Text() => "\"" + string.Join(" ", Enumerable.Range(0, 1 + _rng.Next(8)).Select(_ => Pick(Words))) + "\"";

    private T Pick<T>(IReadOnlyList<T> items) => items[_rng.Next(items.Count)];

    private static string Render(IEnumerable<(string Key, string Value)> fields) =>
        "{" + string.Join(",", fields.Select(f => $"\"{f.Key}\":{f.Value}")) + "}";
}
