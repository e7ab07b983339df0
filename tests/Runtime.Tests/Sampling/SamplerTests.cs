using MoeServe.Runtime.Sampling;

namespace MoeServe.Runtime.Tests.Sampling;

public sealed class SamplerTests
{
    private static readonly float[] Logits = [1.0f, 3.0f, 2.5f, -1.0f, 0.0f, 2.9f];

    [Fact]
    public void Sample_Greedy_ReturnsArgMaxWithItsLogSoftmax()
    {
        var sampler = new Sampler(Logits.Length);
        var token = sampler.Sample(Logits, new SamplingParameters { Temperature = 0 }, new Random(1));
        Assert.Equal(1, token.TokenId);
        double lse = Math.Log(Logits.Sum(l => Math.Exp(l)));
        Assert.Equal(3.0 - lse, token.Logprob, 5);
    }

    [Fact]
    public void Sample_SameSeed_SameSequence()
    {
        var sampler = new Sampler(Logits.Length);
        var p = new SamplingParameters { Temperature = 1.3, Seed = 42 };
        var a = p.CreateRandom();
        var b = p.CreateRandom();
        var first = Enumerable.Range(0, 50).Select(_ => sampler.Sample(Logits, p, a).TokenId).ToArray();
        var second = Enumerable.Range(0, 50).Select(_ => sampler.Sample(Logits, p, b).TokenId).ToArray();
        Assert.Equal(first, second);
        Assert.True(first.Distinct().Count() > 1);
    }

    [Fact]
    public void Sample_Temperature1_FollowsSoftmaxFrequencies()
    {
        var sampler = new Sampler(Logits.Length);
        var random = new Random(7);
        var counts = new int[Logits.Length];
        const int draws = 20000;
        for (int i = 0; i < draws; i++)
        {
            counts[sampler.Sample(Logits, new SamplingParameters(), random).TokenId]++;
        }

        double z = Logits.Sum(l => Math.Exp(l));
        for (int j = 0; j < Logits.Length; j++)
        {
            double expected = Math.Exp(Logits[j]) / z;
            Assert.InRange(counts[j] / (double)draws, expected - 0.015, expected + 0.015);
        }
    }

    [Fact]
    public void Sample_TopK2_OnlyTheTwoBestTokens()
    {
        var sampler = new Sampler(Logits.Length);
        var random = new Random(3);
        var seen = Enumerable.Range(0, 500).Select(_ => sampler.Sample(Logits, new SamplingParameters { TopK = 2, Temperature = 5 }, random).TokenId).ToHashSet();
        Assert.Equal(new HashSet<int> { 1, 5 }, seen);
    }

    [Fact]
    public void Sample_TopPSmall_KeepsOnlyTheBestToken()
    {
        var sampler = new Sampler(Logits.Length);
        var random = new Random(3);
        Assert.All(Enumerable.Range(0, 200), _ => Assert.Equal(1, sampler.Sample(Logits, new SamplingParameters { TopP = 0.05 }, random).TokenId));
    }

    [Fact]
    public void Sample_TopP_KeepsSmallestNucleus()
    {
        // Probabilities of tokens 1, 5, 2 are about 0.33, 0.30, 0.20: top_p 0.6 keeps {1, 5} only.
        var sampler = new Sampler(Logits.Length);
        var random = new Random(9);
        var seen = Enumerable.Range(0, 1000).Select(_ => sampler.Sample(Logits, new SamplingParameters { TopP = 0.6 }, random).TokenId).ToHashSet();
        Assert.Equal(new HashSet<int> { 1, 5 }, seen);
    }

    [Fact]
    public void Sample_TopLogprobs_BestFirstAndNormalised()
    {
        var sampler = new Sampler(Logits.Length);
        var top = new TokenLogprob[3];
        sampler.Sample(Logits, new SamplingParameters { Temperature = 0 }, new Random(1), top);
        Assert.Equal([1, 5, 2], top.Select(t => t.TokenId));
        double lse = Math.Log(Logits.Sum(l => Math.Exp(l)));
        Assert.Equal(2.9 - lse, top[1].Logprob, 5);
        Assert.True(top[0].Logprob >= top[1].Logprob && top[1].Logprob >= top[2].Logprob);
    }

    [Fact]
    public void Sample_WrongLength_Throws()
    {
        var sampler = new Sampler(4);
        Assert.Throws<ArgumentException>(() => sampler.Sample(Logits, new SamplingParameters(), new Random(1)));
    }

    [Fact]
    public void Sample_ManyDraws_AllocateNothing()
    {
        var sampler = new Sampler(4096);
        var logits = Enumerable.Range(0, 4096).Select(i => (float)Math.Sin(i)).ToArray();
        var p = new SamplingParameters { TopK = 50, TopP = 0.9, Temperature = 0.8 };
        var random = new Random(1);
        var top = new TokenLogprob[5];
        sampler.Sample(logits, p, random, top);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            sampler.Sample(logits, p, random, top);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Validate_EveryBadField_ListedTogether()
    {
        var errors = new SamplingParameters { Temperature = -1, TopP = 0, TopK = -2, MaxTokens = 0, TopLogprobs = 21, Stop = [""] }.Validate();
        foreach (var name in new[] { "temperature", "top_p", "top_k", "max_tokens", "logprobs", "stop" })
        {
            Assert.Contains(errors, e => e.StartsWith(name, StringComparison.Ordinal));
        }
    }
}
