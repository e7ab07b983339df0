using MoeServe.Router;
using MoeServe.Runtime;

namespace MoeServe.Cli.Tests.Support;

/// <summary>What the llama.cpp comparisons hold MoeServe to: its logits at every position.</summary>
internal static class StepByStepLogits
{
    /// <summary>One token per step through the KV cache, with plain top-K (as llama.cpp routes).</summary>
    public static float[][] Of(string model, int[] tokens)
    {
        using var engine = MoeEngine.Load(new RuntimeOptions { ModelPath = model, Routing = RoutingMethod.TopK });
        using var cache = engine.CreateCache();
        var logits = new float[tokens.Length][];
        for (int i = 0; i < tokens.Length; i++)
        {
            logits[i] = new float[engine.VocabSize];
            engine.Forward([new ForwardItem(cache, tokens.AsMemory(i, 1))], logits[i]);
        }

        return logits;
    }
}
