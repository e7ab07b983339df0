using MoeServe.TestSupport;

namespace MoeServe.Runtime.Tests.Import;

/// <summary>
/// An independent float64 forward pass of the four Hugging Face MoE families, written from
/// transformers' modeling_mixtral.py, modeling_qwen2_moe.py, modeling_qwen3_moe.py and modeling_olmoe.py
/// (not from MoeServe's graphs): RMSNorm in the decoder layers, q/k/v projections (Qwen2-MoE biases),
/// q/k norms (Qwen3-MoE per head after the view to heads; OLMoE over the whole projection before it),
/// rotate-half RoPE, grouped-query attention via repeat_kv (query head h uses kv head h / groups),
/// softmax router, top-k, optional renormalisation (Mixtral always; others norm_topk_prob), SwiGLU
/// experts, Qwen2-MoE's shared expert times sigmoid(shared_expert_gate), final norm, lm_head or tied.
/// Reads config.json keys and transformers tensor names only.
/// </summary>
internal sealed class HfReferenceForward
{
    private readonly HfFamily _family;
    private readonly Func<string, double[]> _w;
    private readonly int _d;
    private readonly int _heads;
    private readonly int _kvHeads;
    private readonly int _hd;
    private readonly int _vocab;
    private readonly int _layers;
    private readonly int _experts;
    private readonly int _topK;
    private readonly double _eps;
    private readonly double _theta;
    private readonly bool _renormalize;
    private readonly bool _tied;

    public HfReferenceForward(TinyHfModel model, string storedDType = "F32")
    {
        _family = model.Family;
        var c = model.Config;
        _d = (int)c["hidden_size"]!;
        _heads = (int)c["num_attention_heads"]!;
        _kvHeads = (int)(c["num_key_value_heads"] ?? _heads)!;
        _hd = _family == HfFamily.Olmoe || c["head_dim"] is null ? _d / _heads : (int)c["head_dim"]!;
        _vocab = (int)c["vocab_size"]!;
        _layers = (int)c["num_hidden_layers"]!;
        _experts = (int)(c["num_local_experts"] ?? c["num_experts"])!;
        _topK = (int)c["num_experts_per_tok"]!;
        _eps = (double)c["rms_norm_eps"]!;
        _theta = (double)c["rope_theta"]!;
        _renormalize = _family == HfFamily.Mixtral || (bool)(c["norm_topk_prob"] ?? false);
        _tied = (bool?)c["tie_word_embeddings"] == true;
        var cache = new Dictionary<string, double[]>(StringComparer.Ordinal);
        _w = name =>
        {
            if (!cache.TryGetValue(name, out var values))
            {
                values = model.Tensors[name].Data.Select(x => (double)TinyHfCheckpoint.Stored(x, storedDType)).ToArray();
                cache[name] = values;
            }

            return values;
        };
    }

    /// <summary>Logits [T, V] of every position of <paramref name="ids"/> (positions 0..T-1).</summary>
    public double[][] Forward(IReadOnlyList<int> ids)
    {
        int t = ids.Count;
        var embed = _w("model.embed_tokens.weight");
        var x = new double[t][];
        for (int i = 0; i < t; i++)
        {
            x[i] = embed.AsSpan(ids[i] * _d, _d).ToArray();
        }

        string moe = _family == HfFamily.Mixtral ? "block_sparse_moe" : "mlp";
        for (int l = 0; l < _layers; l++)
        {
            string p = $"model.layers.{l}.";
            var h = x.Select(r => RmsNorm(r, _w(p + "input_layernorm.weight"))).ToArray();
            var q = h.Select(r => Linear(r, p + "self_attn.q_proj")).ToArray();
            var k = h.Select(r => Linear(r, p + "self_attn.k_proj")).ToArray();
            var v = h.Select(r => Linear(r, p + "self_attn.v_proj")).ToArray();
            if (_family == HfFamily.Olmoe)
            {
                q = q.Select(r => RmsNorm(r, _w(p + "self_attn.q_norm.weight"))).ToArray();
                k = k.Select(r => RmsNorm(r, _w(p + "self_attn.k_norm.weight"))).ToArray();
            }

            if (_family == HfFamily.Qwen3Moe)
            {
                q = q.Select(r => PerHeadNorm(r, _w(p + "self_attn.q_norm.weight"))).ToArray();
                k = k.Select(r => PerHeadNorm(r, _w(p + "self_attn.k_norm.weight"))).ToArray();
            }

            for (int i = 0; i < t; i++)
            {
                Rope(q[i], i);
                Rope(k[i], i);
            }

            int groups = _heads / _kvHeads;
            var attention = new double[t][];
            for (int i = 0; i < t; i++)
            {
                attention[i] = new double[_heads * _hd];
                for (int head = 0; head < _heads; head++)
                {
                    int kvHead = head / groups;
                    var scores = new double[i + 1];
                    for (int j = 0; j <= i; j++)
                    {
                        double dot = 0;
                        for (int c = 0; c < _hd; c++)
                        {
                            dot += q[i][(head * _hd) + c] * k[j][(kvHead * _hd) + c];
                        }

                        scores[j] = dot / Math.Sqrt(_hd);
                    }

                    var probabilities = Softmax(scores);
                    for (int j = 0; j <= i; j++)
                    {
                        for (int c = 0; c < _hd; c++)
                        {
                            attention[i][(head * _hd) + c] += probabilities[j] * v[j][(kvHead * _hd) + c];
                        }
                    }
                }

                Add(x[i], Matrix(attention[i], p + "self_attn.o_proj.weight"));
            }

            for (int i = 0; i < t; i++)
            {
                var f = RmsNorm(x[i], _w(p + "post_attention_layernorm.weight"));
                var routing = Softmax(Matrix(f, $"{p}{moe}.gate.weight"));
                var chosen = Enumerable.Range(0, _experts).OrderByDescending(j => routing[j]).ThenBy(j => j).Take(_topK).ToArray();
                double sum = chosen.Sum(j => routing[j]);
                var y = new double[_d];
                foreach (int j in chosen)
                {
                    double weight = _renormalize ? routing[j] / sum : routing[j];
                    string e = $"{p}{moe}.experts.{j}.";
                    var output = _family == HfFamily.Mixtral
                        ? SwiGlu(f, e + "w1.weight", e + "w3.weight", e + "w2.weight")
                        : SwiGlu(f, e + "gate_proj.weight", e + "up_proj.weight", e + "down_proj.weight");
                    for (int c = 0; c < _d; c++)
                    {
                        y[c] += weight * output[c];
                    }
                }

                if (_family == HfFamily.Qwen2Moe)
                {
                    var shared = SwiGlu(f, p + "mlp.shared_expert.gate_proj.weight", p + "mlp.shared_expert.up_proj.weight", p + "mlp.shared_expert.down_proj.weight");
                    double gate = 1 / (1 + Math.Exp(-Matrix(f, p + "mlp.shared_expert_gate.weight")[0]));
                    for (int c = 0; c < _d; c++)
                    {
                        y[c] += gate * shared[c];
                    }
                }

                Add(x[i], y);
            }
        }

        string outputHead = _tied ? "model.embed_tokens.weight" : "lm_head.weight";
        return x.Select(r => Matrix(RmsNorm(r, _w("model.norm.weight")), outputHead)).ToArray();
    }

    private double[] Linear(double[] input, string prefix)
    {
        var y = Matrix(input, prefix + ".weight");
        if (_family == HfFamily.Qwen2Moe)
        {
            Add(y, _w(prefix + ".bias"));
        }

        return y;
    }

    // y = W x for W [out, in] as transformers' Linear stores it.
    private double[] Matrix(double[] input, string name)
    {
        var w = _w(name);
        int cols = input.Length;
        int rows = w.Length / cols;
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double s = 0;
            for (int c = 0; c < cols; c++)
            {
                s += w[(r * cols) + c] * input[c];
            }

            y[r] = s;
        }

        return y;
    }

    private double[] SwiGlu(double[] f, string gate, string up, string down)
    {
        var g = Matrix(f, gate);
        var u = Matrix(f, up);
        var m = new double[g.Length];
        for (int i = 0; i < g.Length; i++)
        {
            m[i] = g[i] / (1 + Math.Exp(-g[i])) * u[i];
        }

        return Matrix(m, down);
    }

    private double[] RmsNorm(double[] x, double[] weight)
    {
        double mean = x.Sum(v => v * v) / x.Length;
        double inv = 1 / Math.Sqrt(mean + _eps);
        return x.Select((v, i) => v * inv * weight[i]).ToArray();
    }

    private double[] PerHeadNorm(double[] x, double[] weight)
    {
        var y = new double[x.Length];
        for (int h = 0; h < x.Length / _hd; h++)
        {
            RmsNorm(x.AsSpan(h * _hd, _hd).ToArray(), weight).CopyTo(y, h * _hd);
        }

        return y;
    }

    private void Rope(double[] x, int position)
    {
        int half = _hd / 2;
        for (int h = 0; h < x.Length / _hd; h++)
        {
            int o = h * _hd;
            for (int i = 0; i < half; i++)
            {
                double angle = position * Math.Pow(_theta, -2.0 * i / _hd);
                double a = x[o + i];
                double b = x[o + i + half];
                x[o + i] = (a * Math.Cos(angle)) - (b * Math.Sin(angle));
                x[o + i + half] = (b * Math.Cos(angle)) + (a * Math.Sin(angle));
            }
        }
    }

    private static double[] Softmax(double[] x)
    {
        double max = x.Max();
        var e = x.Select(v => Math.Exp(v - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    private static void Add(double[] target, double[] values)
    {
        for (int i = 0; i < target.Length; i++)
        {
            target[i] += values[i];
        }
    }
}
