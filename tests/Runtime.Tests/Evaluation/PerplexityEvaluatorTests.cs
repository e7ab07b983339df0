using MoeServe.Runtime.Evaluation;
using MoeServe.Runtime.Tests.Support;

namespace MoeServe.Runtime.Tests.Evaluation;

public sealed class PerplexityEvaluatorTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public void Evaluate_Windows_MatchReferenceCrossEntropyAndCountLoads()
    {
        var model = fixture.Model;
        int v = model.Config.VocabSize;
        var random = new Random(2);
        var tokens = Enumerable.Range(0, 50).Select(_ => random.Next(v)).ToArray();
        using var engine = MoeEngine.Load(model.Options());
        var result = new PerplexityEvaluator(engine).Evaluate(tokens, length: 12, tokenLimit: 0, windowsPerStep: 3);

        // 50 tokens: 4 windows of 12 (the 49th token is the last target).
        Assert.Equal(4, result.Windows);
        Assert.Equal(48, result.Tokens);
        double loss = 0;
        for (int w = 0; w < 4; w++)
        {
            var window = tokens.Skip(w * 12).Take(12).Select(t => (long)t).ToArray();
            var logits = model.Reference.Forward(window);
            for (int t = 0; t < 12; t++)
            {
                var row = logits.AsSpan(t * v, v).ToArray();
                double max = row.Max();
                loss += max + Math.Log(row.Sum(x => Math.Exp(x - max))) - row[tokens[(w * 12) + t + 1]];
            }
        }

        Assert.Equal(loss / 48, result.Loss, 4);
        Assert.Equal(Math.Exp(result.Loss), result.Perplexity, 6);
        Assert.Equal(model.Config.Layers, result.MaxVioGlobalPerLayer.Count);
        Assert.All(result.MaxVioGlobalPerLayer, m => Assert.InRange(m, 0, model.Config.Experts));
        Assert.Equal(0, engine.LiveCacheCount);
    }

    [Fact]
    public void Evaluate_TokenLimit_StopsAtWholeWindows()
    {
        using var engine = MoeEngine.Load(fixture.Model.Options());
        var tokens = Enumerable.Range(0, 200).Select(i => i % 250).ToArray();
        var result = new PerplexityEvaluator(engine).Evaluate(tokens, length: 16, tokenLimit: 40);
        Assert.Equal(2, result.Windows);
        Assert.Throws<ArgumentException>(() => new PerplexityEvaluator(engine).Evaluate(tokens.AsMemory(0, 10), length: 16));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PerplexityEvaluator(engine).Evaluate(tokens, length: engine.ContextLength + 1));
    }
}
