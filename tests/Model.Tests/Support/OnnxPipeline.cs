using MoeServe.Model.Reference;

namespace MoeServe.Model.Tests.Support;

/// <summary>
/// Runs a whole model through the exported graphs the way the runtime does (per layer the qkv graph,
/// managed causal attention over the cached keys/values, the post graph, managed routing, one Run per
/// expert over its gathered tokens, scatter-add, head), one sequence at a time.
/// </summary>
internal sealed class OnnxPipeline
{
    private readonly ModelConfig _config;
    private readonly Func<string, OrtGraph> _graph;
    private readonly ReferenceMoeModel _router;
    private readonly List<float>[] _keys;
    private readonly List<float>[] _values;
    private int _past;

    public OnnxPipeline(ExportedTinyModel model, TensorDType dtype)
        : this(model.Config, model.Reference, file => model.Graph(dtype, file))
    {
    }

    /// <summary>A pipeline over any model directory's graphs (<paramref name="graph"/> opens one by file name), routed by <paramref name="router"/>.</summary>
    public OnnxPipeline(ModelConfig config, ReferenceMoeModel router, Func<string, OrtGraph> graph)
    {
        _config = config;
        _graph = graph;
        _router = router;
        _keys = Enumerable.Range(0, config.Layers).Select(_ => new List<float>()).ToArray();
        _values = Enumerable.Range(0, config.Layers).Select(_ => new List<float>()).ToArray();
    }

    /// <summary>Feeds T more tokens (positions continue after the cached ones); returns logits [T, V].</summary>
    public float[] Step(long[] tokens)
    {
        var c = _config;
        int d = c.DModel;
        int t = tokens.Length;
        long[] positions = Enumerable.Range(_past, t).Select(i => (long)i).ToArray();
        float[] x = _graph(GraphNames.EmbedFile).Run((GraphNames.InputIds, tokens, [t]))[GraphNames.Hidden].Data;
        for (int l = 0; l < c.Layers; l++)
        {
            var qkv = _graph(GraphNames.QkvFile(l)).Run(
                (GraphNames.Hidden, x, [t, d]),
                (GraphNames.Positions, positions, [t]));
            _keys[l].AddRange(qkv[GraphNames.Key].Data);
            _values[l].AddRange(qkv[GraphNames.Value].Data);
            float[] attention = ReferenceMoeModel.CausalAttention(qkv[GraphNames.Query].Data, [.. _keys[l]], [.. _values[l]], c.Heads, c.HeadDim);
            var dense = _graph(GraphNames.PostFile(l)).Run(
                (GraphNames.Hidden, x, [t, d]),
                (GraphNames.Attention, attention, [t, d]));
            float[] residual = dense[GraphNames.Residual].Data;
            float[] ffnInput = dense[GraphNames.FfnInput].Data;
            float[] logits = dense[GraphNames.RouterLogits].Data;

            // Gather each expert's tokens, one Run per expert, weighted scatter-add.
            var perExpert = Enumerable.Range(0, c.Experts).Select(_ => new List<(int Token, float Gate)>()).ToArray();
            int[] chosen = new int[c.TopK];
            float[] gates = new float[c.TopK];
            for (int i = 0; i < t; i++)
            {
                _router.Route(l, logits.AsSpan(i * c.Experts, c.Experts), chosen, gates);
                for (int k = 0; k < c.TopK; k++)
                {
                    perExpert[chosen[k]].Add((i, gates[k]));
                }
            }

            for (int j = 0; j < c.Experts; j++)
            {
                var assigned = perExpert[j];
                if (assigned.Count == 0)
                {
                    continue;
                }

                float[] input = new float[assigned.Count * d];
                for (int r = 0; r < assigned.Count; r++)
                {
                    Array.Copy(ffnInput, assigned[r].Token * d, input, r * d, d);
                }

                float[] y = _graph(GraphNames.ExpertFile(l, j)).Run((GraphNames.ExpertInput, input, [assigned.Count, d]))[GraphNames.ExpertOutput].Data;
                for (int r = 0; r < assigned.Count; r++)
                {
                    for (int e = 0; e < d; e++)
                    {
                        residual[(assigned[r].Token * d) + e] += assigned[r].Gate * y[(r * d) + e];
                    }
                }
            }

            if (c.HasSharedExpert)
            {
                float[] shared = _graph(GraphNames.SharedFile(l)).Run((GraphNames.ExpertInput, ffnInput, [t, d]))[GraphNames.ExpertOutput].Data;
                for (int e = 0; e < residual.Length; e++)
                {
                    residual[e] += shared[e];
                }
            }

            x = residual;
        }

        _past += t;
        return _graph(GraphNames.HeadFile).Run((GraphNames.Hidden, x, [t, d]))[GraphNames.Logits].Data;
    }
}
