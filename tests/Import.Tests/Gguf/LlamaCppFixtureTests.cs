using System.Text.Json.Nodes;
using MoeServe.Import.Tests.Support;

namespace MoeServe.Import.Tests.Gguf;

/// <summary>
/// The in-process llama.cpp reproduces what the fixture recorded from llama.cpp (commit de3ff81) on
/// mixtral.gguf: so the harness is a faithful reference for the other tests.
/// </summary>
public sealed class LlamaCppFixtureTests(Xunit.Abstractions.ITestOutputHelper output)
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (JsonNode? c in (JsonArray)Expected()["cases"]!)
        {
            data.Add((string)c!["prompt_id"]!);
        }
        return data;
    }

    private static JsonObject Expected() =>
        (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures.MixtralDirectory, "expected.json")))!;

    [Theory]
    [MemberData(nameof(Cases))]
    public void Evaluate_FixtureGguf_ReproducesExpectedJson(string promptId)
    {
        JsonNode c = ((JsonArray)Expected()["cases"]!).Single(x => (string)x!["prompt_id"]! == promptId)!;
        int[] expectedIds = c["token_ids"]!.AsArray().Select(x => (int)x!).ToArray();
        float[] expectedLast = c["logits_last"]!.AsArray().Select(x => (float)x!).ToArray();
        int[] expectedArgmax = c["argmax_per_position"]!.AsArray().Select(x => (int)x!).ToArray();
        double expectedPerplexity = (double)c["perplexity"]!;

        LlamaCppReference.Result r = LlamaCppReference.Evaluate(Fixtures.MixtralGguf, (string)c["prompt"]!);

        Assert.Equal(expectedIds, r.TokenIds);
        float[] last = r.Logits[^1];
        Assert.Equal(expectedLast.Length, last.Length);
        double rel = Numerics.MaxAbsDiff(expectedLast, last) / Numerics.MaxAbs(expectedLast);
        double perplexityNow = Numerics.Perplexity(r.Logits, r.TokenIds);
        output.WriteLine($"{promptId}: {r.TokenIds.Length} tokens, last logits {rel:E2} relative, perplexity {perplexityNow:F4} vs {expectedPerplexity:F4}");
        Assert.True(rel < 1e-4, $"last-position logits differ by {rel:E2} relative");
        Assert.Equal(expectedArgmax, r.Logits.Select(Numerics.ArgMax).ToArray());
        double perplexity = Numerics.Perplexity(r.Logits, r.TokenIds);
        Assert.True(Math.Abs(perplexity / expectedPerplexity - 1) < 1e-4, $"perplexity {perplexity} vs expected {expectedPerplexity}");
    }
}
