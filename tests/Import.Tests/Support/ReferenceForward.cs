using System.Text.Json.Nodes;
using MoeServe.Model.Import;

namespace MoeServe.Import.Tests.Support;

/// <summary>
/// An independent float64 forward pass over an <see cref="IHfCheckpoint"/>, written from transformers'
/// modeling code for Mixtral, Qwen2-MoE, Qwen3-MoE and OLMoE: RMSNorm, q/k/v projections (+biases),
/// q/k norms (per head for Qwen3-MoE, over the whole projection for OLMoE), rotate_half RoPE, causal
/// GQA attention, a softmax router over the top-k experts (renormalised where the family does), SwiGLU
/// experts, Qwen2-MoE's sigmoid-gated shared expert, the final norm and the (possibly tied) head.
/// </summary>
public static class ReferenceForward
{
    public static double[][] Logits(IHfCheckpoint m, IReadOnlyList<int> ids)
    {
        JsonObject c = m.Config;
        string type = (string)c["model_type"]!;
        int hidden = (int)Json.Long(c["hidden_size"]);
        int heads = (int)Json.Long(c["num_attention_heads"]);
        int kvHeads = c["num_key_value_heads"] is { } kv ? (int)Json.Long(kv) : heads;
        int hd = c["head_dim"] is JsonValue h ? (int)Json.Long(h) : hidden / heads;
        int layers = (int)Json.Long(c["num_hidden_layers"]);
        int experts = (int)Json.Long(c["num_local_experts"] ?? c["num_experts"]);
        int topK = (int)Json.Long(c["num_experts_per_tok"]);
        bool norm = type == "mixtral" || (bool)c["norm_topk_prob"]!;
        double eps = Json.Double(c["rms_norm_eps"]);
        double theta = Json.Double(c["rope_theta"]);
        int n = ids.Count;
        var cache = new Dictionary<string, double[]>();
        double[] W(string name)
        {
            if (!cache.TryGetValue(name, out double[]? v))
            {
                var f = new float[m.Shape(name).Aggregate(1L, (a, b) => a * b)];
                m.ReadFloat32(name, f);
                cache[name] = v = Array.ConvertAll(f, x => (double)x);
            }
            return v;
        }
        bool Has(string name) => m.TensorNames.Contains(name);

        double[] embed = W("model.embed_tokens.weight");
        var x = new double[n][];
        for (int t = 0; t < n; t++)
        {
            x[t] = embed.AsSpan(ids[t] * hidden, hidden).ToArray();
        }
        for (int l = 0; l < layers; l++)
        {
            string p = $"model.layers.{l}.";
            var q = new double[n][];
            var k = new double[n][];
            var v = new double[n][];
            for (int t = 0; t < n; t++)
            {
                double[] hs = RmsNorm(x[t], W(p + "input_layernorm.weight"), eps);
                q[t] = Linear(hs, W(p + "self_attn.q_proj.weight"), Has(p + "self_attn.q_proj.bias") ? W(p + "self_attn.q_proj.bias") : null);
                k[t] = Linear(hs, W(p + "self_attn.k_proj.weight"), Has(p + "self_attn.k_proj.bias") ? W(p + "self_attn.k_proj.bias") : null);
                v[t] = Linear(hs, W(p + "self_attn.v_proj.weight"), Has(p + "self_attn.v_proj.bias") ? W(p + "self_attn.v_proj.bias") : null);
                if (type == "olmoe")
                {
                    q[t] = RmsNorm(q[t], W(p + "self_attn.q_norm.weight"), eps);
                    k[t] = RmsNorm(k[t], W(p + "self_attn.k_norm.weight"), eps);
                }
                if (type == "qwen3_moe")
                {
                    PerHeadNorm(q[t], heads, hd, W(p + "self_attn.q_norm.weight"), eps);
                    PerHeadNorm(k[t], kvHeads, hd, W(p + "self_attn.k_norm.weight"), eps);
                }
                Rope(q[t], heads, hd, t, theta);
                Rope(k[t], kvHeads, hd, t, theta);
            }
            for (int t = 0; t < n; t++)
            {
                var attn = new double[heads * hd];
                for (int hh = 0; hh < heads; hh++)
                {
                    int kh = hh / (heads / kvHeads);
                    var scores = new double[t + 1];
                    for (int s = 0; s <= t; s++)
                    {
                        double dot = 0;
                        for (int d = 0; d < hd; d++)
                        {
                            dot += q[t][hh * hd + d] * k[s][kh * hd + d];
                        }
                        scores[s] = dot / Math.Sqrt(hd);
                    }
                    double[] probs = Softmax(scores);
                    for (int s = 0; s <= t; s++)
                    {
                        for (int d = 0; d < hd; d++)
                        {
                            attn[hh * hd + d] += probs[s] * v[s][kh * hd + d];
                        }
                    }
                }
                double[] o = Linear(attn, W(p + "self_attn.o_proj.weight"), null);
                for (int i = 0; i < hidden; i++)
                {
                    x[t][i] += o[i];
                }
                double[] h2 = RmsNorm(x[t], W(p + "post_attention_layernorm.weight"), eps);
                string moe = type == "mixtral" ? p + "block_sparse_moe." : p + "mlp.";
                double[] probsE = Softmax(Linear(h2, W(moe + "gate.weight"), null));
                int[] chosen = Enumerable.Range(0, experts).OrderByDescending(e => probsE[e]).Take(topK).ToArray();
                double sum = chosen.Sum(e => probsE[e]);
                var outp = new double[hidden];
                foreach (int e in chosen)
                {
                    double weight = norm ? probsE[e] / sum : probsE[e];
                    string ex = $"{moe}experts.{e}.";
                    double[] y = type == "mixtral"
                        ? SwiGlu(h2, W(ex + "w1.weight"), W(ex + "w3.weight"), W(ex + "w2.weight"))
                        : SwiGlu(h2, W(ex + "gate_proj.weight"), W(ex + "up_proj.weight"), W(ex + "down_proj.weight"));
                    for (int i = 0; i < hidden; i++)
                    {
                        outp[i] += weight * y[i];
                    }
                }
                if (type == "qwen2_moe")
                {
                    double[] shared = SwiGlu(h2, W(p + "mlp.shared_expert.gate_proj.weight"), W(p + "mlp.shared_expert.up_proj.weight"), W(p + "mlp.shared_expert.down_proj.weight"));
                    double g = 1 / (1 + Math.Exp(-Linear(h2, W(p + "mlp.shared_expert_gate.weight"), null)[0]));
                    for (int i = 0; i < hidden; i++)
                    {
                        outp[i] += g * shared[i];
                    }
                }
                for (int i = 0; i < hidden; i++)
                {
                    x[t][i] += outp[i];
                }
            }
        }
        double[] head = Has("lm_head.weight") ? W("lm_head.weight") : embed;
        var logits = new double[n][];
        for (int t = 0; t < n; t++)
        {
            logits[t] = Linear(RmsNorm(x[t], W("model.norm.weight"), eps), head, null);
        }
        return logits;
    }

    private static double[] Linear(double[] input, double[] weight, double[]? bias)
    {
        int inDim = input.Length;
        int outDim = weight.Length / inDim;
        var y = new double[outDim];
        for (int o = 0; o < outDim; o++)
        {
            double s = bias?[o] ?? 0;
            for (int i = 0; i < inDim; i++)
            {
                s += weight[o * inDim + i] * input[i];
            }
            y[o] = s;
        }
        return y;
    }

    private static double[] RmsNorm(double[] x, double[] w, double eps)
    {
        double ms = x.Sum(v => v * v) / x.Length;
        double r = 1 / Math.Sqrt(ms + eps);
        return x.Select((v, i) => v * r * w[i]).ToArray();
    }

    private static void PerHeadNorm(double[] x, int heads, int hd, double[] w, double eps)
    {
        for (int h = 0; h < heads; h++)
        {
            double[] normed = RmsNorm(x.AsSpan(h * hd, hd).ToArray(), w, eps);
            normed.CopyTo(x, h * hd);
        }
    }

    // transformers' apply_rotary_pos_emb: x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x2, x1).
    private static void Rope(double[] x, int heads, int hd, int pos, double theta)
    {
        int half = hd / 2;
        for (int h = 0; h < heads; h++)
        {
            for (int i = 0; i < half; i++)
            {
                double freq = Math.Pow(theta, -2.0 * i / hd);
                double angle = pos * freq;
                double a = x[h * hd + i];
                double b = x[h * hd + i + half];
                x[h * hd + i] = a * Math.Cos(angle) - b * Math.Sin(angle);
                x[h * hd + i + half] = b * Math.Cos(angle) + a * Math.Sin(angle);
            }
        }
    }

    private static double[] Softmax(double[] z)
    {
        double max = z.Max();
        double[] e = z.Select(v => Math.Exp(v - max)).ToArray();
        double s = e.Sum();
        return e.Select(v => v / s).ToArray();
    }

    private static double[] SwiGlu(double[] x, double[] gate, double[] up, double[] down)
    {
        double[] g = Linear(x, gate, null);
        double[] u = Linear(x, up, null);
        double[] a = g.Select((v, i) => v / (1 + Math.Exp(-v)) * u[i]).ToArray();
        return Linear(a, down, null);
    }
}
