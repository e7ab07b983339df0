using MoeServe.Model;
using MoeServe.Model.Gguf;
using MoeServe.Model.Onnx;
using MoeServe.Text.Tokenization;

namespace MoeServe.Peer;

/// <summary>
/// Writes an exported MoeServe model as a GGUF of llama.cpp's <c>llama</c> architecture with experts
/// (Mixtral's layout: ffn_gate_inp, ffn_{gate,up,down}_exps), from the weights in its own graphs, so
/// llama.cpp runs the same model: q and k rows permuted per head for llama.cpp's pairwise RoPE (MoeServe
/// rotates halves, as Hugging Face Llama does), the head tied to the embedding (no output.weight),
/// norms and the router in F32, and the tokenizer as a gpt2 vocabulary (<see cref="Gpt2Vocabulary"/>).
/// What the architecture cannot hold: the manifest's per-layer q. llama.cpp selects plain top-K of
/// the softmax scores, so it computes MoeServe's <c>topk</c> routing.
/// </summary>
public static class LlamaGgufExporter
{
    /// <summary>Writes <paramref name="path"/> from the model directory <paramref name="modelDirectory"/>.</summary>
    /// <param name="modelDirectory">An exported MoeServe model (manifest.json, graphs, tiktoken tokenizer).</param>
    /// <param name="path">The GGUF to write.</param>
    /// <param name="weightType">F32 or F16 for the matrices (norms and the router stay F32).</param>
    public static void Write(string modelDirectory, string path, GgmlType weightType = GgmlType.F16)
    {
        var weights = new ExportedGraphWeights(modelDirectory);
        var manifest = weights.Manifest;
        if (manifest.Tokenizer.Kind != TokenizerKind.Tiktoken)
        {
            throw new NotSupportedException($"'{modelDirectory}': the GGUF export writes MoeServe's own (tiktoken) tokenizer, not {manifest.Tokenizer.Kind}.");
        }

        if (manifest.Routing.ScoreFunction != MoeServe.Router.ScoreFunction.Softmax || !manifest.Routing.Renormalize)
        {
            throw new NotSupportedException($"'{modelDirectory}': llama.cpp's llama architecture routes by softmax with renormalised top-K gates; this model uses {manifest.Routing.ScoreFunction} (renormalize {manifest.Routing.Renormalize}).");
        }

        var vocabulary = TokenizerFiles.ReadVocabulary(modelDirectory);
        Build(manifest.Config, weights, Gpt2Vocabulary.Create(vocabulary, manifest.Config.VocabSize), manifest.Name, weightType).WriteTo(path);
    }

    /// <summary>The GGUF of <paramref name="config"/> with <paramref name="weights"/> and <paramref name="tokenizer"/>.</summary>
    /// <param name="config">MoeServe's own architecture (no GQA, biases, q/k norms, shared expert or untied head).</param>
    /// <param name="weights">Checkpoint tensors by <see cref="CheckpointTensorNames"/>.</param>
    /// <param name="tokenizer">The tokenizer keys.</param>
    /// <param name="name">general.name.</param>
    /// <param name="weightType">F32 or F16 for the matrices.</param>
    public static GgufWriter Build(ModelConfig config, ITensorSource weights, GgufTokenizerMetadata tokenizer, string name, GgmlType weightType)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (weightType is not (GgmlType.F32 or GgmlType.F16))
        {
            throw new ArgumentOutOfRangeException(nameof(weightType), weightType, "The peer's GGUF is F32 or F16.");
        }

        const string arch = "llama";
        int d = config.DModel;
        int h = config.ExpertHidden;
        int m = config.Experts;
        var w = new GgufWriter();
        w.AddString("general.architecture", arch);
        w.AddString("general.type", "model");
        w.AddString("general.name", name);
        w.AddUInt32("general.quantization_version", 2);
        w.AddUInt32($"{arch}.block_count", (uint)config.Layers);
        w.AddUInt32($"{arch}.context_length", (uint)config.ContextLength);
        w.AddUInt32($"{arch}.embedding_length", (uint)d);
        w.AddUInt32($"{arch}.feed_forward_length", (uint)h);
        w.AddUInt32($"{arch}.attention.head_count", (uint)config.Heads);
        w.AddUInt32($"{arch}.attention.head_count_kv", (uint)config.KeyValueHeads);
        w.AddFloat32($"{arch}.rope.freq_base", (float)config.RopeTheta);
        w.AddFloat32($"{arch}.attention.layer_norm_rms_epsilon", (float)config.NormEps);
        w.AddUInt32($"{arch}.expert_count", (uint)m);
        w.AddUInt32($"{arch}.expert_used_count", (uint)config.TopK);
        w.AddUInt32("general.file_type", weightType == GgmlType.F16 ? 1u : 0u);
        w.AddUInt32($"{arch}.vocab_size", (uint)config.VocabSize);
        w.AddUInt32($"{arch}.rope.dimension_count", (uint)config.HeadDim);
        w.AddTokenizer(tokenizer);

        void Matrix(string gguf, string source, int permuteHeads = 0)
        {
            var t = weights.Read(source);
            float[] data = permuteHeads == 0 ? t.Data : GgufWriter.PermuteLlamaRows(t.Data, t.Shape[0], permuteHeads);
            w.AddTensor(gguf, t.Shape.Select(x => (long)x).ToArray(), data, weightType);
        }

        void Vector(string gguf, string source)
        {
            var t = weights.Read(source);
            w.AddTensor(gguf, t.Shape.Select(x => (long)x).ToArray(), t.Data, GgmlType.F32);
        }

        void Experts(string gguf, int layer, Func<int, int, string> tensorName, int rows, int cols)
        {
            // torch.stack of the experts: [m, out, in], ggml ne [in, out, m].
            var stacked = new float[m * rows * cols];
            for (int e = 0; e < m; e++)
            {
                weights.Read(tensorName(layer, e)).Data.CopyTo(stacked, e * rows * cols);
            }

            w.AddTensor(gguf, [m, rows, cols], stacked, weightType);
        }

        Matrix("token_embd.weight", CheckpointTensorNames.TokenEmbeddings);
        Vector("output_norm.weight", CheckpointTensorNames.FinalNorm);
        for (int l = 0; l < config.Layers; l++)
        {
            string b = $"blk.{l}.";
            Vector(b + "attn_norm.weight", CheckpointTensorNames.AttentionNorm(l));
            Matrix(b + "attn_q.weight", CheckpointTensorNames.Wq(l), config.Heads);
            Matrix(b + "attn_k.weight", CheckpointTensorNames.Wk(l), config.KeyValueHeads);
            Matrix(b + "attn_v.weight", CheckpointTensorNames.Wv(l));
            Matrix(b + "attn_output.weight", CheckpointTensorNames.Wo(l));
            Vector(b + "ffn_norm.weight", CheckpointTensorNames.FfnNorm(l));
            Vector(b + "ffn_gate_inp.weight", CheckpointTensorNames.Gate(l));
            Experts(b + "ffn_gate_exps.weight", l, CheckpointTensorNames.ExpertW1, h, d);
            Experts(b + "ffn_up_exps.weight", l, CheckpointTensorNames.ExpertW3, h, d);
            Experts(b + "ffn_down_exps.weight", l, CheckpointTensorNames.ExpertW2, d, h);
        }

        return w;
    }


}
