using MoeServe.Model.Reference;
using MoeServe.Model.Tests.Support;

namespace MoeServe.Model.Tests.Onnx;

public sealed class GraphParityTests : IClassFixture<ExportedTinyModel>
{
    private const float Fp32Tolerance = 1e-4f;
    private const float Fp16Tolerance = 1e-2f;
    private readonly ExportedTinyModel _model;

    public GraphParityTests(ExportedTinyModel model) => _model = model;

    private ModelConfig Config => _model.Config;

    private float[] RandomHidden(int rows, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, rows * Config.DModel).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
    }

    private ReferenceMoeModel ReferenceFor(TensorDType dtype) => dtype == TensorDType.Float32 ? _model.Reference : _model.RoundedReference;

    [Theory]
    [InlineData(TensorDType.Float32)]
    [InlineData(TensorDType.Float16)]
    public void Embed_TokenIds_MatchesReferenceRows(TensorDType dtype)
    {
        long[] ids = [0, 5, 256, (long)Config.VocabSize - 1, 5];
        var output = _model.Graph(dtype, GraphNames.EmbedFile).Run((GraphNames.InputIds, ids, [ids.Length]))[GraphNames.Hidden];
        Assert.Equal(new long[] { ids.Length, Config.DModel }, output.Shape);
        Close.Equal(ReferenceFor(dtype).Embed(ids), output.Data, 0f, "embed");
        Close.Equal(_model.Reference.Embed(ids), output.Data, dtype == TensorDType.Float32 ? 0f : Fp16Tolerance, "embed vs float32 weights");
    }

    [Theory]
    [InlineData(TensorDType.Float32, 1)]
    [InlineData(TensorDType.Float32, 7)]
    [InlineData(TensorDType.Float16, 7)]
    public void Expert_Batch_MatchesReference(TensorDType dtype, int tokens)
    {
        float[] x = RandomHidden(tokens, tokens);
        for (int l = 0; l < Config.Layers; l++)
        {
            for (int j = 0; j < Config.Experts; j++)
            {
                var y = _model.Graph(dtype, GraphNames.ExpertFile(l, j)).Run((GraphNames.ExpertInput, x, [tokens, Config.DModel]))[GraphNames.ExpertOutput];
                Assert.Equal(new long[] { tokens, Config.DModel }, y.Shape);
                Close.Equal(ReferenceFor(dtype).Expert(l, j, x), y.Data, Fp32Tolerance, $"layer {l} expert {j}");
                Close.Equal(_model.Reference.Expert(l, j, x), y.Data, dtype == TensorDType.Float32 ? Fp32Tolerance : Fp16Tolerance, $"layer {l} expert {j} vs float32 weights");
            }
        }
    }

    [Fact]
    public void Expert_RowsAreIndependent_BatchEqualsSingleRuns()
    {
        float[] x = RandomHidden(5, 3);
        var graph = _model.Graph(TensorDType.Float32, GraphNames.ExpertFile(1, 2));
        float[] batch = graph.Run((GraphNames.ExpertInput, x, [5, Config.DModel]))[GraphNames.ExpertOutput].Data;
        for (int r = 0; r < 5; r++)
        {
            float[] row = x.AsSpan(r * Config.DModel, Config.DModel).ToArray();
            float[] single = graph.Run((GraphNames.ExpertInput, row, [1, Config.DModel]))[GraphNames.ExpertOutput].Data;
            Close.Equal(single, batch.AsSpan(r * Config.DModel, Config.DModel), 1e-6f, $"row {r}");
        }
    }

    [Theory]
    [InlineData(TensorDType.Float32)]
    [InlineData(TensorDType.Float16)]
    public void Shared_Batch_MatchesReference(TensorDType dtype)
    {
        float[] x = RandomHidden(4, 11);
        var y = _model.Graph(dtype, GraphNames.SharedFile(0)).Run((GraphNames.ExpertInput, x, [4, Config.DModel]))[GraphNames.ExpertOutput];
        Close.Equal(ReferenceFor(dtype).Shared(0, x), y.Data, Fp32Tolerance, "shared expert");
    }

    [Theory]
    [InlineData(TensorDType.Float32)]
    [InlineData(TensorDType.Float16)]
    public void Head_Hidden_MatchesReferenceLogits(TensorDType dtype)
    {
        float[] x = RandomHidden(3, 5);
        var logits = _model.Graph(dtype, GraphNames.HeadFile).Run((GraphNames.Hidden, x, [3, Config.DModel]))[GraphNames.Logits];
        Assert.Equal(new long[] { 3, Config.VocabSize }, logits.Shape);
        Close.Equal(ReferenceFor(dtype).Head(x), logits.Data, Fp32Tolerance, "head");
        Close.Equal(_model.Reference.Head(x), logits.Data, dtype == TensorDType.Float32 ? Fp32Tolerance : Fp16Tolerance * Math.Max(1, Close.MaxAbs(logits.Data)), "head vs float32 weights");
    }

    [Theory]
    [InlineData(TensorDType.Float32, 0)]
    [InlineData(TensorDType.Float32, 9)]
    [InlineData(TensorDType.Float16, 3)]
    [InlineData(TensorDType.Float32, 1000)]
    public void Qkv_Tokens_MatchesReferenceAtAnyStartPosition(TensorDType dtype, int start)
    {
        const int t = 6;
        float[] hidden = RandomHidden(t, 21 + start);
        long[] positions = Enumerable.Range(start, t).Select(i => (long)i).ToArray();
        var actual = RunQkv(dtype, 1, hidden, positions);
        var expected = ReferenceFor(dtype).Qkv(1, hidden, positions);
        Close.Equal(expected.Query, actual.Query, Fp32Tolerance, $"query {dtype} start {start}");
        Close.Equal(expected.Key, actual.Key, Fp32Tolerance, $"key {dtype} start {start}");
        Close.Equal(expected.Value, actual.Value, Fp32Tolerance, $"value {dtype} start {start}");
    }

    [Fact]
    public void Qkv_Positions_RotateQueriesAndKeysNotValues()
    {
        const int t = 3;
        float[] hidden = RandomHidden(t, 4);
        var at0 = RunQkv(TensorDType.Float32, 0, hidden, [0, 1, 2]);
        var at7 = RunQkv(TensorDType.Float32, 0, hidden, [7, 8, 9]);
        Close.Equal(at0.Value, at7.Value, 0f, "values do not depend on positions");
        Assert.True(at0.Key.Zip(at7.Key).Max(p => Math.Abs(p.First - p.Second)) > 1e-2f, "keys must depend on positions");
        Assert.True(at0.Query.Zip(at7.Query).Max(p => Math.Abs(p.First - p.Second)) > 1e-2f, "queries must depend on positions");
    }

    [Fact]
    public void Qkv_PackedSequences_EqualSeparateRuns()
    {
        // The runtime packs the tokens of every sequence of a step into one Run: rows must not interact.
        int d = Config.DModel;
        float[] hidden = RandomHidden(5, 17);
        var packed = RunQkv(TensorDType.Float32, 1, hidden, [3, 4, 0, 11, 12]);
        var first = RunQkv(TensorDType.Float32, 1, hidden[..(2 * d)], [3, 4]);
        var second = RunQkv(TensorDType.Float32, 1, hidden[(2 * d)..], [0, 11, 12]);
        Close.Equal([.. first.Query, .. second.Query], packed.Query, 1e-6f, "query");
        Close.Equal([.. first.Key, .. second.Key], packed.Key, 1e-6f, "key");
        Close.Equal([.. first.Value, .. second.Value], packed.Value, 1e-6f, "value");
    }

    [Theory]
    [InlineData(TensorDType.Float32)]
    [InlineData(TensorDType.Float16)]
    public void Post_HiddenAndAttention_MatchesReference(TensorDType dtype)
    {
        const int t = 4;
        float[] hidden = RandomHidden(t, 31);
        float[] attention = RandomHidden(t, 32);
        var actual = RunPost(dtype, 1, hidden, attention);
        var expected = ReferenceFor(dtype).Post(1, hidden, attention);
        Close.Equal(expected.Residual, actual.Residual, Fp32Tolerance, "residual");
        Close.Equal(expected.FfnInput, actual.FfnInput, Fp32Tolerance, "ffn_input");
        Close.Equal(expected.RouterLogits, actual.RouterLogits, Fp32Tolerance, "router_logits");
    }

    [Theory]
    [InlineData(TensorDType.Float32)]
    [InlineData(TensorDType.Float16)]
    public void QkvAttentionPost_PrefillThenDecode_EqualsReferenceDenseLayer(TensorDType dtype)
    {
        // qkv graph -> managed attention over the cached keys -> post graph must equal the one-piece
        // reference layer (with its [T, P+T] bias and [H, P, hd] cache), for a prefill and a decode step.
        const int t = 5;
        int d = Config.DModel;
        float[] hidden = RandomHidden(t + 1, 99);
        long[] all = Enumerable.Range(0, t + 1).Select(i => (long)i).ToArray();
        var reference = ReferenceFor(dtype);
        var full = reference.Dense(0, hidden, all, ReferenceMoeModel.CausalBias(t + 1, 0), [], []);

        var prefix = RunQkv(dtype, 0, hidden[..(t * d)], all[..t]);
        float[] prefixAttention = ReferenceMoeModel.CausalAttention(prefix.Query, prefix.Key, prefix.Value, Config.Heads, Config.HeadDim);
        var prefixPost = RunPost(dtype, 0, hidden[..(t * d)], prefixAttention);
        Close.Equal(full.Residual.AsSpan(0, t * d), prefixPost.Residual, Fp32Tolerance, "prefill residual");
        Close.Equal(full.RouterLogits.AsSpan(0, t * Config.Experts), prefixPost.RouterLogits, Fp32Tolerance, "prefill router logits");

        var step = RunQkv(dtype, 0, hidden[(t * d)..], [t]);
        float[] stepAttention = ReferenceMoeModel.CausalAttention(step.Query, [.. prefix.Key, .. step.Key], [.. prefix.Value, .. step.Value], Config.Heads, Config.HeadDim);
        var stepPost = RunPost(dtype, 0, hidden[(t * d)..], stepAttention);
        Close.Equal(full.Residual.AsSpan(t * d), stepPost.Residual, Fp32Tolerance, "decoded residual");
        Close.Equal(full.FfnInput.AsSpan(t * d), stepPost.FfnInput, Fp32Tolerance, "decoded ffn input");
        Close.Equal(full.RouterLogits.AsSpan(t * Config.Experts), stepPost.RouterLogits, Fp32Tolerance, "decoded router logits");
    }

    [Fact]
    public void CausalAttention_OnlyOneVisibleKey_ReturnsItsValue()
    {
        // The first token of a sequence sees only itself: softmax over one score is 1.
        int d = Config.DModel;
        float[] q = RandomHidden(1, 1);
        float[] k = RandomHidden(1, 2);
        float[] v = RandomHidden(1, 3);
        Close.Equal(v, ReferenceMoeModel.CausalAttention(q, k, v, Config.Heads, Config.HeadDim), 1e-6f, "single key");
        Assert.Throws<ArgumentException>(() => ReferenceMoeModel.CausalAttention(RandomHidden(2, 1), k, v, Config.Heads, Config.HeadDim));
        Assert.Equal(d, v.Length);
    }

    [Theory]
    [InlineData(TensorDType.Float32, Fp32Tolerance)]
    [InlineData(TensorDType.Float16, Fp16Tolerance)]
    public void Pipeline_PrefillThenDecode_MatchesReferenceForward(TensorDType dtype, float tolerance)
    {
        long[] tokens = [256, 72, 101, 108, 108, 111, 44, 32, 119];
        float[] expected = _model.Reference.Forward(tokens);
        int v = Config.VocabSize;
        int prefill = 6;

        var pipeline = new OnnxPipeline(_model, dtype);
        float[] first = pipeline.Step(tokens[..prefill]);
        Close.Equal(expected.AsSpan(0, prefill * v), first, tolerance, "prefill logits");
        for (int i = prefill; i < tokens.Length; i++)
        {
            float[] next = pipeline.Step([tokens[i]]);
            Close.Equal(expected.AsSpan(i * v, v), next, tolerance, $"decode logits at {i}");
        }
    }

    [Fact]
    public void Pipeline_Float16_MatchesRoundedReferenceTightly()
    {
        long[] tokens = [256, 84, 104, 101, 32, 101, 110, 100];
        float[] expected = _model.RoundedReference.Forward(tokens);
        float[] actual = new OnnxPipeline(_model, TensorDType.Float16).Step(tokens);
        Close.Equal(expected, actual, Fp32Tolerance * 2, "float16 graphs vs float16-rounded reference");
    }

    private QkvOutput RunQkv(TensorDType dtype, int layer, float[] hidden, long[] positions)
    {
        int t = positions.Length;
        var outputs = _model.Graph(dtype, GraphNames.QkvFile(layer)).Run(
            (GraphNames.Hidden, hidden, [t, Config.DModel]),
            (GraphNames.Positions, positions, [t]));
        foreach (var output in outputs.Values)
        {
            Assert.Equal(new long[] { t, Config.Heads, Config.HeadDim }, output.Shape);
        }

        return new QkvOutput(outputs[GraphNames.Query].Data, outputs[GraphNames.Key].Data, outputs[GraphNames.Value].Data);
    }

    private DenseLayerOutput RunPost(TensorDType dtype, int layer, float[] hidden, float[] attention)
    {
        int t = hidden.Length / Config.DModel;
        var outputs = _model.Graph(dtype, GraphNames.PostFile(layer)).Run(
            (GraphNames.Hidden, hidden, [t, Config.DModel]),
            (GraphNames.Attention, attention, [t, Config.DModel]));
        return new DenseLayerOutput(outputs[GraphNames.Residual].Data, outputs[GraphNames.FfnInput].Data, outputs[GraphNames.RouterLogits].Data, [], []);
    }
}
