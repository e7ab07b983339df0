using System.Numerics.Tensors;
using System.Text.Json;
using System.Text.Json.Nodes;
using MoeServe.Runtime;
using MoeServe.Server.Tests.Support;

namespace MoeServe.Server.Tests.Integration;

/// <summary>
/// ignore_eos on a copy of the tiny model whose manifest makes tokens of its own greedy output end-of-sequence ids,
/// so greedy generation meets an EOS within a few tokens: without the flag it stops there, with it it runs on.
/// </summary>
public sealed class IgnoreEosTests(IgnoreEosTests.EarlyEosServer server) : IClassFixture<IgnoreEosTests.EarlyEosServer>
{
    private const int MaxTokens = 12;

    [Fact]
    public async Task Completions_GreedyHitsEos_StopsWithoutFlagAndRunsToMaxTokensWithIt()
    {
        string prompt = JsonSerializer.Serialize(server.CompletionPrompt);
        var stopped = await Http.PostOkAsync(server.Client, "/v1/completions", $$"""{"prompt":{{prompt}},"max_tokens":{{MaxTokens}},"temperature":0}""");
        var ignoring = await Http.PostOkAsync(server.Client, "/v1/completions", $$"""{"prompt":{{prompt}},"max_tokens":{{MaxTokens}},"temperature":0,"ignore_eos":true}""");

        Assert.Equal("stop", FinishReason(stopped));
        Assert.Equal(server.CompletionStopsAfter, CompletionTokens(stopped));
        Assert.Equal("length", FinishReason(ignoring));
        Assert.Equal(MaxTokens, CompletionTokens(ignoring));
        Assert.StartsWith(Http.CompletionText(stopped), Http.CompletionText(ignoring), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Chat_GreedyHitsEos_StopsWithoutFlagAndRunsToMaxTokensWithIt()
    {
        const string Messages = """[{"role":"user","content":"Hi"}]""";
        var stopped = await Http.PostOkAsync(server.Client, "/v1/chat/completions", $$"""{"messages":{{Messages}},"max_tokens":{{MaxTokens}},"temperature":0}""");
        // Streamed, so the flag is checked on the streaming path too.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent($$$"""{"messages":{{{Messages}}},"max_tokens":{{{MaxTokens}}},"temperature":0,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}""", System.Text.Encoding.UTF8, "application/json"),
        };
        using var response = await server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var chunks = Sse.Json(await Sse.ReadAllAsync(response));

        Assert.Equal(server.ChatPrompt.Length, stopped.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal("stop", FinishReason(stopped));
        Assert.Equal(server.ChatStopsAfter, CompletionTokens(stopped));
        Assert.Equal("length", chunks[^2].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(MaxTokens, CompletionTokens(chunks[^1]));
    }

    private static string? FinishReason(JsonElement body) => body.GetProperty("choices")[0].GetProperty("finish_reason").GetString();

    private static int CompletionTokens(JsonElement body) => body.GetProperty("usage").GetProperty("completion_tokens").GetInt32();

    /// <summary>A server on the tiny model with end-of-sequence ids chosen from its greedy output.</summary>
    public sealed class EarlyEosServer : IAsyncLifetime
    {
        // The default chat template's rendering of one user message "Hi" (GenerationTests checks the template).
        private const string ChatText = "User: Hi\n\nAssistant:";

        private readonly string _root = Path.Combine(Path.GetTempPath(), "moeserve-server-tests", "eos-" + Guid.NewGuid().ToString("N"));
        private ServerFactory? _factory;

        public HttpClient Client { get; private set; } = null!;

        public int[] CompletionPrompt { get; private set; } = [];

        public int[] ChatPrompt { get; private set; } = [];

        /// <summary>Tokens the greedy completion generates before its first end-of-sequence id.</summary>
        public int CompletionStopsAfter { get; private set; }

        /// <summary>Tokens the greedy chat reply generates before its first end-of-sequence id.</summary>
        public int ChatStopsAfter { get; private set; }

        public async Task InitializeAsync()
        {
            int[] completionGreedy;
            int[] chatGreedy;
            var stopIds = new List<int>();
            using (var engine = MoeEngine.Load(new RuntimeOptions { ModelPath = TinyServerModel.Path, MaxSequences = 1, MaxBatchTokens = 64 }))
            {
                stopIds.AddRange(engine.StopTokenIds);
                CompletionPrompt = engine.EncodePrompt("The quick brown fox");
                ChatPrompt = engine.EncodePrompt(ChatText);
                completionGreedy = Greedy(engine, CompletionPrompt, MaxTokens);
                chatGreedy = Greedy(engine, ChatPrompt, MaxTokens);
            }

            // Each output's third token becomes an extra end-of-sequence id: generation ends at its first
            // occurrence (the first step, when a random model repeats one token).
            stopIds.Add(completionGreedy[2]);
            stopIds.Add(chatGreedy[2]);
            CompletionStopsAfter = Array.FindIndex(completionGreedy, stopIds.Contains);
            ChatStopsAfter = Array.FindIndex(chatGreedy, stopIds.Contains);
            Assert.InRange(CompletionStopsAfter, 0, 2);
            Assert.InRange(ChatStopsAfter, 0, 2);

            string model = Path.Combine(_root, "model");
            Directory.CreateDirectory(model);
            foreach (string file in Directory.EnumerateFiles(TinyServerModel.Path))
            {
                File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
            }

            string manifestPath = Path.Combine(model, "manifest.json");
            var manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!.AsObject();
            manifest["formatVersion"] = 3;
            manifest["endOfSequenceIds"] = new JsonArray([.. stopIds.Distinct().Select(id => (JsonNode)id)]);
            File.WriteAllText(manifestPath, manifest.ToJsonString());

            _factory = new ServerFactory(new Dictionary<string, string> { ["MoeServe:ModelPath"] = model });
            Client = await _factory.CreateReadyClientAsync();
        }

        public async Task DisposeAsync()
        {
            Client?.Dispose();
            if (_factory is not null)
            {
                await _factory.DisposeAsync();
            }

            try
            {
                Directory.Delete(_root, recursive: true);
            }
            catch (IOException)
            {
            }
        }

        private static int[] Greedy(MoeEngine engine, int[] prompt, int count)
        {
            using var cache = engine.CreateCache();
            var logits = new float[engine.VocabSize];
            var ids = new int[count];
            engine.Forward([new ForwardItem(cache, prompt)], logits);
            for (int i = 0; i < count; i++)
            {
                ids[i] = TensorPrimitives.IndexOfMax(logits);
                if (i + 1 < count)
                {
                    engine.Forward([new ForwardItem(cache, new[] { ids[i] })], logits);
                }
            }

            return ids;
        }
    }
}
