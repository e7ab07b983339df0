using MoeServe.Model;
using MoeServe.Router;
using MoeServe.Runtime.Tests.Support;
using MoeServe.TestSupport;
using MoeServe.Training.Modeling;
using MoeServe.Training.Native;
using MoeServe.Training.Routing;

using static TorchSharp.torch;

namespace MoeServe.Runtime.Tests.Engine;

/// <summary>The acceptance parity: ONNX runtime logits versus the TorchSharp training model on the same weights and prompt.</summary>
public sealed class TorchSharpParityTests
{
    private static readonly int[] Prompt = [65, 110, 100, 32, 71, 111, 100, 32, 115, 97, 105, 100];

    [Theory]
    [InlineData(TensorDType.Float32, 1e-4)]
    [InlineData(TensorDType.Float16, 1e-2)]
    public void Forward_SameWeightsAndPrompt_MatchesTorchSharpModel(TensorDType storage, double tolerance)
    {
        LibTorchSharpCompatibility.EnsureLoadable();
        var config = TinyCheckpoint.DefaultConfig with { SharedExpertHidden = 8 };
        using var model = TinyModel.Create(config, seed: 21, storage);
        float[] expected = TorchSharpLogits(model);

        using var engine = MoeEngine.Load(model.Options());
        using var cache = engine.CreateCache();
        int v = engine.VocabSize;
        var all = new float[Prompt.Length * v];
        engine.ForwardAllPositions([new ForwardItem(cache, Prompt)], all);
        float worst = Logits.MaxAbsDiff(all, expected);
        Assert.True(worst < tolerance, $"largest logit difference {worst} ({storage})");

        // Decoding through the KV cache agrees as well.
        var last = new float[v];
        using var decode = engine.CreateCache();
        engine.Forward([new ForwardItem(decode, Prompt.AsMemory(0, 6))], last);
        for (int t = 6; t < Prompt.Length; t++)
        {
            engine.Forward([new ForwardItem(decode, Prompt.AsMemory(t, 1))], last);
            Assert.True(Logits.MaxAbsDiff(last, expected.AsSpan(t * v, v)) < tolerance, $"decode position {t}");
        }
    }

    private static float[] TorchSharpLogits(TinyModel model)
    {
        var weights = SafeTensorsFile.Read(Path.Combine(model.Root, "checkpoint", "model.safetensors"));
        using var torchModel = new MoeTransformer(model.Config);
        using (no_grad())
        {
            foreach (var (name, parameter) in torchModel.named_parameters())
            {
                var stored = weights.Get(name, parameter.shape.Select(d => checked((int)d)).ToArray());
                using var source = tensor(stored.Data, parameter.shape);
                parameter.copy_(source);
            }
        }

        torchModel.eval();
        using var noGrad = no_grad();
        using var pass = new RoutingPass(model.Config.Layers, model.Config.Experts, l => new BiasedTopKPolicy(model.Q[l], model.Config.Renormalize), 0);
        using var logits = torchModel.Forward(tensor(Prompt.Select(t => (long)t).ToArray(), [1, Prompt.Length]), pass);
        return logits.data<float>().ToArray();
    }
}
