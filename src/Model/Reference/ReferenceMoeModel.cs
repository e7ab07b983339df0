using MoeServe.Router;

namespace MoeServe.Model.Reference;

/// <summary>
/// A naive, obviously-correct managed forward pass of the contract math (docs/contracts.md), part by
/// part like the ONNX graphs and end to end. Slow on purpose (plain loops, double accumulation): it
/// is the yardstick graphs and runtimes are tested against, never a serving path.
/// </summary>
public sealed class ReferenceMoeModel
{
    private readonly SafeTensorsContent _weights;
    private readonly IReadOnlyList<float[]> _q;

    /// <summary>Wraps a configuration, its weights and optional per-layer q (zeros when null).</summary>
    /// <param name="config">The model configuration.</param>
    /// <param name="weights">The checkpoint weights.</param>
    /// <param name="q">Per-layer vectors subtracted from scores before top-K (null: plain top-K).</param>
    public ReferenceMoeModel(ModelConfig config, SafeTensorsContent weights, IReadOnlyList<float[]>? q = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        config.EnsureValid();
        if (config.KeyValueHeads != config.Heads || config.HeadDim * config.Heads != config.DModel || config.QkNorm != QkNormKind.None || config.QkvBias || config.SharedExpertGate || config.UntiedHead)
        {
            throw new NotSupportedException("The reference forward pass covers MoeServe's own architecture only (no GQA, explicit head width, q/k norm, biases, shared gate or untied head); imported families are checked by the import tests' own references.");
        }

        var errors = CheckpointTensorNames.Check(config, weights);
        if (errors.Count > 0)
        {
            throw new InvalidDataException(string.Join(Environment.NewLine, errors));
        }

        Config = config;
        _weights = weights;
        _q = q ?? Enumerable.Range(0, config.Layers).Select(_ => new float[config.Experts]).ToArray();
        if (_q.Count != config.Layers || _q.Any(v => v.Length != config.Experts))
        {
            throw new ArgumentException($"q must hold {config.Layers} vectors of {config.Experts} values.", nameof(q));
        }
    }

    /// <summary>The model configuration.</summary>
    public ModelConfig Config { get; }

    /// <summary>hidden [N, d] = E[ids].</summary>
    /// <param name="ids">Token ids.</param>
    public float[] Embed(ReadOnlySpan<long> ids)
    {
        int d = Config.DModel;
        var table = _weights.Get(CheckpointTensorNames.TokenEmbeddings).Data;
        float[] hidden = new float[ids.Length * d];
        for (int n = 0; n < ids.Length; n++)
        {
            if ((ulong)ids[n] >= (ulong)Config.VocabSize)
            {
                throw new ArgumentOutOfRangeException(nameof(ids), ids[n], $"Token id outside [0, {Config.VocabSize}).");
            }

            Array.Copy(table, ids[n] * d, hidden, n * d, d);
        }

        return hidden;
    }

    /// <summary>The dense part of layer <paramref name="layer"/> for T new tokens after P cached ones.</summary>
    /// <param name="layer">Layer index.</param>
    /// <param name="hidden">[T, d] input.</param>
    /// <param name="positions">[T] positions.</param>
    /// <param name="attentionBias">[T, P+T] additive bias (0 or -inf).</param>
    /// <param name="pastKey">[H, P, hd] cached keys.</param>
    /// <param name="pastValue">[H, P, hd] cached values.</param>
    public DenseLayerOutput Dense(int layer, float[] hidden, long[] positions, float[] attentionBias, float[] pastKey, float[] pastValue)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(positions);
        ArgumentNullException.ThrowIfNull(attentionBias);
        ArgumentNullException.ThrowIfNull(pastKey);
        ArgumentNullException.ThrowIfNull(pastValue);
        int d = Config.DModel;
        int heads = Config.Heads;
        int hd = Config.HeadDim;
        int t = positions.Length;
        int p = pastKey.Length / (heads * hd);
        int s = p + t;
        if (hidden.Length != t * d || attentionBias.Length != t * s || pastValue.Length != pastKey.Length)
        {
            throw new ArgumentException("Inconsistent dense-layer input sizes.", nameof(hidden));
        }

        var (q, k, v) = Qkv(layer, hidden, positions);

        float[] presentKey = new float[heads * s * hd];
        float[] presentValue = new float[heads * s * hd];
        for (int h = 0; h < heads; h++)
        {
            Array.Copy(pastKey, h * p * hd, presentKey, h * s * hd, p * hd);
            Array.Copy(pastValue, h * p * hd, presentValue, h * s * hd, p * hd);
            for (int i = 0; i < t; i++)
            {
                Array.Copy(k, (i * d) + (h * hd), presentKey, (h * s * hd) + ((p + i) * hd), hd);
                Array.Copy(v, (i * d) + (h * hd), presentValue, (h * s * hd) + ((p + i) * hd), hd);
            }
        }

        float[] merged = new float[t * d];
        double scale = 1.0 / Math.Sqrt(hd);
        double[] scores = new double[s];
        for (int h = 0; h < heads; h++)
        {
            for (int i = 0; i < t; i++)
            {
                for (int j = 0; j < s; j++)
                {
                    double dot = 0;
                    for (int c = 0; c < hd; c++)
                    {
                        dot += (double)q[(i * d) + (h * hd) + c] * presentKey[(h * s * hd) + (j * hd) + c];
                    }

                    scores[j] = (dot * scale) + attentionBias[(i * s) + j];
                }

                SoftmaxInPlace(scores);
                for (int c = 0; c < hd; c++)
                {
                    double acc = 0;
                    for (int j = 0; j < s; j++)
                    {
                        acc += scores[j] * presentValue[(h * s * hd) + (j * hd) + c];
                    }

                    merged[(i * d) + (h * hd) + c] = (float)acc;
                }
            }
        }

        var post = Post(layer, hidden, merged);
        return post with { PresentKey = presentKey, PresentValue = presentValue };
    }

    /// <summary>The part of a layer before attention (layer{l}.qkv.onnx): attention RMSNorm, Q/K/V, RoPE.</summary>
    /// <param name="layer">Layer index.</param>
    /// <param name="hidden">[T, d] input.</param>
    /// <param name="positions">[T] positions (each token's position in its own sequence).</param>
    public QkvOutput Qkv(int layer, float[] hidden, long[] positions)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(positions);
        int t = positions.Length;
        if (hidden.Length != t * Config.DModel)
        {
            throw new ArgumentException("hidden must hold T x d floats for T positions.", nameof(hidden));
        }

        float[] a = RmsNorm(hidden, t, CheckpointTensorNames.AttentionNorm(layer));
        float[] q = Linear(a, t, CheckpointTensorNames.Wq(layer));
        float[] k = Linear(a, t, CheckpointTensorNames.Wk(layer));
        float[] v = Linear(a, t, CheckpointTensorNames.Wv(layer));
        ApplyRope(q, positions);
        ApplyRope(k, positions);
        return new QkvOutput(q, k, v);
    }

    /// <summary>
    /// The part of a layer after attention (layer{l}.post.onnx): residual = hidden + attention Wo^T, ffn
    /// RMSNorm, router logits. The result's present keys and values are empty.
    /// </summary>
    /// <param name="layer">Layer index.</param>
    /// <param name="hidden">[T, d], x before attention.</param>
    /// <param name="attention">[T, d], the attention output with heads concatenated (before Wo).</param>
    public DenseLayerOutput Post(int layer, float[] hidden, float[] attention)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(attention);
        int d = Config.DModel;
        int t = hidden.Length / d;
        if (hidden.Length != t * d || attention.Length != hidden.Length)
        {
            throw new ArgumentException("hidden and attention must both hold T x d floats.", nameof(attention));
        }

        float[] projected = Linear(attention, t, CheckpointTensorNames.Wo(layer));
        float[] residual = new float[t * d];
        for (int i = 0; i < residual.Length; i++)
        {
            residual[i] = hidden[i] + projected[i];
        }

        float[] ffnInput = RmsNorm(residual, t, CheckpointTensorNames.FfnNorm(layer));
        float[] logits = Linear(ffnInput, t, CheckpointTensorNames.Gate(layer));
        return new DenseLayerOutput(residual, ffnInput, logits, [], []);
    }

    /// <summary>
    /// Causal attention of one sequence: the T queries are the sequence's last T tokens, and query i
    /// attends to keys 0 .. S - T + i. Returns [T, H * hd] (heads concatenated).
    /// </summary>
    /// <param name="query">[T, H, hd] queries (RoPE applied).</param>
    /// <param name="keys">[S, H, hd] keys of the sequence so far, including the T new ones.</param>
    /// <param name="values">[S, H, hd] values, same layout.</param>
    /// <param name="heads">H.</param>
    /// <param name="headDim">hd.</param>
    public static float[] CausalAttention(float[] query, float[] keys, float[] values, int heads, int headDim)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(values);
        int d = heads * headDim;
        int t = query.Length / d;
        int s = keys.Length / d;
        if (query.Length != t * d || keys.Length != s * d || values.Length != keys.Length || s < t)
        {
            throw new ArgumentException("query must be [T, H, hd] and keys/values [S, H, hd] with S >= T.", nameof(keys));
        }

        int p = s - t;
        float[] output = new float[t * d];
        double scale = 1.0 / Math.Sqrt(headDim);
        double[] scores = new double[s];
        for (int h = 0; h < heads; h++)
        {
            for (int i = 0; i < t; i++)
            {
                int visible = p + i + 1;
                for (int j = 0; j < visible; j++)
                {
                    double dot = 0;
                    for (int c = 0; c < headDim; c++)
                    {
                        dot += (double)query[(i * d) + (h * headDim) + c] * keys[(j * d) + (h * headDim) + c];
                    }

                    scores[j] = dot * scale;
                }

                SoftmaxInPlace(scores.AsSpan(0, visible));
                for (int c = 0; c < headDim; c++)
                {
                    double acc = 0;
                    for (int j = 0; j < visible; j++)
                    {
                        acc += scores[j] * values[(j * d) + (h * headDim) + c];
                    }

                    output[(i * d) + (h * headDim) + c] = (float)acc;
                }
            }
        }

        return output;
    }

    /// <summary>Routed expert: y [N, d] = (silu(x W1^T) * (x W3^T)) W2^T.</summary>
    /// <param name="layer">Layer index.</param>
    /// <param name="expert">Expert index.</param>
    /// <param name="x">[N, d] input.</param>
    public float[] Expert(int layer, int expert, float[] x) =>
        SwiGlu(x, CheckpointTensorNames.ExpertW1(layer, expert), CheckpointTensorNames.ExpertW3(layer, expert), CheckpointTensorNames.ExpertW2(layer, expert));

    /// <summary>Shared expert: same math with the shared weights.</summary>
    /// <param name="layer">Layer index.</param>
    /// <param name="x">[N, d] input.</param>
    public float[] Shared(int layer, float[] x) =>
        SwiGlu(x, CheckpointTensorNames.SharedW1(layer), CheckpointTensorNames.SharedW3(layer), CheckpointTensorNames.SharedW2(layer));

    /// <summary>logits [N, V] = RMSNorm(hidden, norm) E^T.</summary>
    /// <param name="hidden">[N, d] input.</param>
    public float[] Head(float[] hidden)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        int n = hidden.Length / Config.DModel;
        return Linear(RmsNorm(hidden, n, CheckpointTensorNames.FinalNorm), n, CheckpointTensorNames.TokenEmbeddings);
    }

    /// <summary>
    /// Chooses experts for one token: scores from the logits (softmax or sigmoid), top-K of s - q
    /// (ties to the lower index), gates from the unbiased s, renormalised when configured.
    /// </summary>
    /// <param name="layer">Layer index (selects q).</param>
    /// <param name="logits">[m] router logits of the token.</param>
    /// <param name="experts">Receives k expert indices, best first.</param>
    /// <param name="gates">Receives the k gates.</param>
    public void Route(int layer, ReadOnlySpan<float> logits, Span<int> experts, Span<float> gates)
    {
        int m = Config.Experts;
        int k = Config.TopK;
        double[] scores = new double[m];
        if (Config.ScoreFunction == ScoreFunction.Softmax)
        {
            for (int j = 0; j < m; j++)
            {
                scores[j] = logits[j];
            }

            SoftmaxInPlace(scores);
        }
        else
        {
            for (int j = 0; j < m; j++)
            {
                scores[j] = 1.0 / (1.0 + Math.Exp(-logits[j]));
            }
        }

        float[] q = _q[layer];
        var order = Enumerable.Range(0, m).OrderByDescending(j => scores[j] - q[j]).ThenBy(j => j).Take(k).ToArray();
        double total = order.Sum(j => scores[j]);
        for (int i = 0; i < k; i++)
        {
            experts[i] = order[i];
            gates[i] = (float)(Config.Renormalize ? scores[order[i]] / total : scores[order[i]]);
        }
    }

    /// <summary>The MoE block after a layer's dense part: residual + sum of gated experts (+ shared expert).</summary>
    /// <param name="layer">Layer index.</param>
    /// <param name="dense">The dense part's output.</param>
    public float[] MoeBlock(int layer, DenseLayerOutput dense)
    {
        ArgumentNullException.ThrowIfNull(dense);
        int d = Config.DModel;
        int m = Config.Experts;
        int t = dense.Residual.Length / d;
        float[] x = (float[])dense.Residual.Clone();
        int[] chosen = new int[Config.TopK];
        float[] gates = new float[Config.TopK];
        for (int i = 0; i < t; i++)
        {
            float[] f = dense.FfnInput.AsSpan(i * d, d).ToArray();
            Route(layer, dense.RouterLogits.AsSpan(i * m, m), chosen, gates);
            for (int c = 0; c < chosen.Length; c++)
            {
                float[] y = Expert(layer, chosen[c], f);
                for (int e = 0; e < d; e++)
                {
                    x[(i * d) + e] += gates[c] * y[e];
                }
            }
        }

        if (Config.HasSharedExpert)
        {
            float[] shared = Shared(layer, dense.FfnInput);
            for (int e = 0; e < x.Length; e++)
            {
                x[e] += shared[e];
            }
        }

        return x;
    }

    /// <summary>Full causal forward over one sequence from position 0: logits [T, V].</summary>
    /// <param name="tokens">Token ids.</param>
    public float[] Forward(ReadOnlySpan<long> tokens)
    {
        int t = tokens.Length;
        long[] positions = Enumerable.Range(0, t).Select(i => (long)i).ToArray();
        float[] bias = CausalBias(t, 0);
        float[] x = Embed(tokens);
        for (int l = 0; l < Config.Layers; l++)
        {
            var dense = Dense(l, x, positions, bias, [], []);
            x = MoeBlock(l, dense);
        }

        return Head(x);
    }

    /// <summary>The [T, P+T] causal bias for T new tokens after P cached ones: -inf above the diagonal.</summary>
    /// <param name="newTokens">T.</param>
    /// <param name="pastTokens">P.</param>
    public static float[] CausalBias(int newTokens, int pastTokens)
    {
        int s = pastTokens + newTokens;
        float[] bias = new float[newTokens * s];
        for (int i = 0; i < newTokens; i++)
        {
            for (int j = pastTokens + i + 1; j < s; j++)
            {
                bias[(i * s) + j] = float.NegativeInfinity;
            }
        }

        return bias;
    }

    private float[] SwiGlu(float[] x, string w1, string w3, string w2)
    {
        ArgumentNullException.ThrowIfNull(x);
        int n = x.Length / Config.DModel;
        float[] a = Linear(x, n, w1);
        float[] b = Linear(x, n, w3);
        for (int i = 0; i < a.Length; i++)
        {
            double g = a[i];
            a[i] = (float)(g / (1.0 + Math.Exp(-g)) * b[i]);
        }

        return Linear(a, n, w2);
    }

    // y [n, out] = x [n, in] W^T with W stored [out, in].
    private float[] Linear(float[] x, int n, string weightName)
    {
        var w = _weights.Get(weightName);
        int outDim = w.Shape[0];
        int inDim = w.Shape[1];
        float[] y = new float[n * outDim];
        for (int r = 0; r < n; r++)
        {
            for (int o = 0; o < outDim; o++)
            {
                double acc = 0;
                for (int i = 0; i < inDim; i++)
                {
                    acc += (double)x[(r * inDim) + i] * w.Data[(o * inDim) + i];
                }

                y[(r * outDim) + o] = (float)acc;
            }
        }

        return y;
    }

    private float[] RmsNorm(float[] x, int n, string weightName)
    {
        var w = _weights.Get(weightName).Data;
        int d = w.Length;
        float[] y = new float[x.Length];
        for (int r = 0; r < n; r++)
        {
            double sum = 0;
            for (int i = 0; i < d; i++)
            {
                sum += (double)x[(r * d) + i] * x[(r * d) + i];
            }

            double inv = 1.0 / Math.Sqrt((sum / d) + Config.NormEps);
            for (int i = 0; i < d; i++)
            {
                y[(r * d) + i] = (float)(x[(r * d) + i] * inv * w[i]);
            }
        }

        return y;
    }

    // In place on [T, d] laid out as [T, H, hd]: x * cos + rotate_half(x) * sin.
    private void ApplyRope(float[] x, long[] positions)
    {
        int d = Config.DModel;
        int hd = Config.HeadDim;
        int half = hd / 2;
        double[] rotated = new double[hd];
        for (int t = 0; t < positions.Length; t++)
        {
            for (int h = 0; h < Config.Heads; h++)
            {
                int baseIndex = (t * d) + (h * hd);
                for (int c = 0; c < hd; c++)
                {
                    rotated[c] = c < half ? -x[baseIndex + c + half] : x[baseIndex + c - half];
                }

                for (int c = 0; c < hd; c++)
                {
                    int i = c % half;
                    double angle = positions[t] * Math.Pow(Config.RopeTheta, -2.0 * i / hd);
                    x[baseIndex + c] = (float)((x[baseIndex + c] * Math.Cos(angle)) + (rotated[c] * Math.Sin(angle)));
                }
            }
        }
    }

    // Softmax in double, max-subtracted; attention and routing share it so the reference has one definition.
    // Each value ends as exp(x - max) / sum, the same numbers as dividing by the sum where they are used.
    private static void SoftmaxInPlace(Span<double> values)
    {
        double max = double.NegativeInfinity;
        foreach (double value in values)
        {
            max = Math.Max(max, value);
        }

        double sum = 0;
        for (int j = 0; j < values.Length; j++)
        {
            values[j] = Math.Exp(values[j] - max);
            sum += values[j];
        }

        for (int j = 0; j < values.Length; j++)
        {
            values[j] /= sum;
        }
    }
}
