using Microsoft.ML.OnnxRuntime;

using MoeServe.Model;
using MoeServe.Model.Reference;

namespace MoeServe.Cli.Commands;

/// <summary>
/// <c>export --verify</c>: runs a short random token sequence through the exported graphs (prefill,
/// then token-by-token decode through the KV cache, managed top-K(s - q) routing, one Run per expert)
/// and through the checkpoint's managed reference forward pass, and reports the largest logit difference.
/// </summary>
internal sealed class ExportVerifier : IDisposable
{
    private readonly string _modelDir;
    private readonly ModelManifest _manifest;
    private readonly ReferenceMoeModel _reference;
    private readonly Dictionary<string, InferenceSession> _sessions = new(StringComparer.Ordinal);
    private readonly SessionOptions _options = new() { IntraOpNumThreads = 1 };

    public ExportVerifier(string modelDir, string checkpointDir)
    {
        _modelDir = modelDir;
        _manifest = ModelManifest.Load(modelDir);
        var weights = SafeTensorsFile.Read(new CheckpointLayout(checkpointDir).WeightsPath);
        _reference = new ReferenceMoeModel(_manifest.Config, weights, [.. _manifest.Routing.Q]);
    }

    /// <summary>Max |logit difference| and max |logit| over <paramref name="length"/> tokens.</summary>
    public (float MaxError, float MaxLogit) Verify(int length, int seed)
    {
        var config = _manifest.Config;
        var random = new Random(seed);
        long[] tokens = Enumerable.Range(0, length).Select(_ => (long)random.Next(config.VocabSize)).ToArray();
        float[] expected = _reference.Forward(tokens);

        int prefill = Math.Max(1, length / 2);
        var past = new float[config.Layers][];
        var pastValue = new float[config.Layers][];
        for (int l = 0; l < config.Layers; l++)
        {
            past[l] = [];
            pastValue[l] = [];
        }

        float maxError = 0;
        float maxLogit = 0;
        int done = 0;
        while (done < length)
        {
            int t = done == 0 ? prefill : 1;
            float[] logits = Step(tokens[done..(done + t)], done, past, pastValue);
            for (int i = 0; i < logits.Length; i++)
            {
                float e = expected[(done * config.VocabSize) + i];
                maxError = Math.Max(maxError, Math.Abs(e - logits[i]));
                maxLogit = Math.Max(maxLogit, Math.Abs(e));
            }

            done += t;
        }

        return (maxError, maxLogit);
    }

    public void Dispose()
    {
        foreach (var session in _sessions.Values)
        {
            session.Dispose();
        }

        _options.Dispose();
    }

    private float[] Step(long[] tokens, int pastLength, float[][] pastKey, float[][] pastValue)
    {
        var c = _manifest.Config;
        int d = c.DModel;
        int t = tokens.Length;
        long[] positions = Enumerable.Range(pastLength, t).Select(i => (long)i).ToArray();
        float[] x = Run(_manifest.Graphs.Embed, (GraphNames.InputIds, tokens, [t]))[0];
        for (int l = 0; l < c.Layers; l++)
        {
            var layer = _manifest.Graphs.Layers[l];
            // qkv graph, then the managed attention over the keys/values so far ([S, H, hd]), then the post graph.
            var qkv = Run(layer.Qkv, (GraphNames.Hidden, x, [t, d]), (GraphNames.Positions, positions, [t]));
            pastKey[l] = [.. pastKey[l], .. qkv[1]];
            pastValue[l] = [.. pastValue[l], .. qkv[2]];
            float[] attention = ReferenceMoeModel.CausalAttention(qkv[0], pastKey[l], pastValue[l], c.Heads, c.HeadDim);
            var dense = Run(layer.Post, (GraphNames.Hidden, x, [t, d]), (GraphNames.Attention, attention, [t, d]));
            float[] residual = dense[0];
            float[] ffnInput = dense[1];
            float[] routerLogits = dense[2];

            int[] chosen = new int[c.TopK];
            float[] gates = new float[c.TopK];
            for (int i = 0; i < t; i++)
            {
                _reference.Route(l, routerLogits.AsSpan(i * c.Experts, c.Experts), chosen, gates);
                float[] row = ffnInput.AsSpan(i * d, d).ToArray();
                for (int k = 0; k < c.TopK; k++)
                {
                    float[] y = Run(layer.Experts[chosen[k]], (GraphNames.ExpertInput, row, [1, d]))[0];
                    for (int e = 0; e < d; e++)
                    {
                        residual[(i * d) + e] += gates[k] * y[e];
                    }
                }
            }

            if (layer.Shared is not null)
            {
                float[] shared = Run(layer.Shared, (GraphNames.ExpertInput, ffnInput, [t, d]))[0];
                for (int e = 0; e < residual.Length; e++)
                {
                    residual[e] += shared[e];
                }
            }

            x = residual;
        }

        return Run(_manifest.Graphs.Head, (GraphNames.Hidden, x, [t, d]))[0];
    }

    private float[][] Run(string file, params (string Name, Array Data, long[] Shape)[] inputs)
    {
        if (!_sessions.TryGetValue(file, out var session))
        {
            session = new InferenceSession(Path.Combine(_modelDir, file), _options);
            _sessions[file] = session;
        }

        var values = new List<OrtValue>(inputs.Length);
        try
        {
            foreach (var (_, data, shape) in inputs)
            {
                values.Add(data is long[] ids ? OrtValue.CreateTensorValueFromMemory(ids, shape) : OrtValue.CreateTensorValueFromMemory((float[])data, shape));
            }

            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, inputs.Select(i => i.Name).ToArray(), values, session.OutputNames);
            return outputs.Select(o => o.GetTensorDataAsSpan<float>().ToArray()).ToArray();
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
    }
}
