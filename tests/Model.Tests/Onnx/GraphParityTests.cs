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
    public void Dense_Prefill_MatchesReferenceAtAnyStartPosition(TensorDType dtype, int start)
    {
        const int t = 6;
        float[] hidden = RandomHidden(t, 21 + start);
        long[] positions = Enumerable.Range(start, t).Select(i => (long)i).ToArray();
        float[] bias = ReferenceMoeModel.CausalBias(t, 0);
        var actual = RunDense(dtype, 1, hidden, positions, bias, [], [], 0);
        var expected = ReferenceFor(dtype).Dense(1, hidden, positions, bias, [], []);
        AssertDense(expected, actual, Fp32Tolerance, $"dense {dtype} start {start}");
        Assert.Equal(new long[] { Config.Heads, t, Config.HeadDim }, actual.KeyShape);
    }

    [Fact]
    public void Dense_Positions_ChangeQueriesAndKeys()
    {
        const int t = 3;
        float[] hidden = RandomHidden(t, 4);
        float[] bias = ReferenceMoeModel.CausalBias(t, 0);
        var at0 = RunDense(TensorDType.Float32, 0, hidden, [0, 1, 2], bias, [], [], 0);
        var at7 = RunDense(TensorDType.Float32, 0, hidden, [7, 8, 9], bias, [], [], 0);

        // Rotating every position by the same offset leaves relative attention (and so the residual) unchanged,
        // but the cached keys themselves differ.
        Close.Equal(at0.Residual, at7.Residual, 1e-4f, "residual is shift-invariant");
        Assert.True(at0.Key.Zip(at7.Key).Max(p => Math.Abs(p.First - p.Second)) > 1e-2f, "keys must depend on positions");
    }

    [Theory]
    [InlineData(TensorDType.Float32)]
    [InlineData(TensorDType.Float16)]
    public void Dense_KvCacheContinuation_EqualsLongerPrefill(TensorDType dtype)
    {
        const int t = 5;
        float[] hidden = RandomHidden(t + 1, 99);
        long[] all = Enumerable.Range(0, t + 1).Select(i => (long)i).ToArray();
        var full = RunDense(dtype, 0, hidden, all, ReferenceMoeModel.CausalBias(t + 1, 0), [], [], 0);
        var prefix = RunDense(dtype, 0, hidden[..(t * Config.DModel)], all[..t], ReferenceMoeModel.CausalBias(t, 0), [], [], 0);
        var step = RunDense(dtype, 0, hidden[(t * Config.DModel)..], [t], ReferenceMoeModel.CausalBias(1, t), prefix.Key, prefix.Value, t);

        int d = Config.DModel;
        Close.Equal(full.Residual.AsSpan(t * d), step.Residual, Fp32Tolerance, "residual of the decoded token");
        Close.Equal(full.FfnInput.AsSpan(t * d), step.FfnInput, Fp32Tolerance, "ffn input of the decoded token");
        Close.Equal(full.Logits.AsSpan(t * Config.Experts), step.Logits, Fp32Tolerance, "router logits of the decoded token");
        Close.Equal(full.Key, step.Key, Fp32Tolerance, "present key");
        Close.Equal(full.Value, step.Value, Fp32Tolerance, "present value");
        Assert.Equal(new long[] { Config.Heads, t + 1, Config.HeadDim }, step.KeyShape);
    }

    [Fact]
    public void Dense_AttentionBias_MasksPastPositions()
    {
        // Masking every past position but the current one must equal attending to the token alone.
        const int p = 4;
        float[] hidden = RandomHidden(p + 1, 8);
        long[] all = Enumerable.Range(0, p + 1).Select(i => (long)i).ToArray();
        var prefix = RunDense(TensorDType.Float32, 0, hidden[..(p * Config.DModel)], all[..p], ReferenceMoeModel.CausalBias(p, 0), [], [], 0);
        float[] bias = new float[p + 1];
        Array.Fill(bias, float.NegativeInfinity, 0, p);
        float[] last = hidden[(p * Config.DModel)..];
        var masked = RunDense(TensorDType.Float32, 0, last, [p], bias, prefix.Key, prefix.Value, p);
        var alone = RunDense(TensorDType.Float32, 0, last, [p], [0f], [], [], 0);
        Close.Equal(alone.Residual, masked.Residual, 1e-5f, "masked residual");
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

    private void AssertDense(DenseLayerOutput expected, DenseResult actual, float tolerance, string what)
    {
        Close.Equal(expected.Residual, actual.Residual, tolerance, what + " residual");
        Close.Equal(expected.FfnInput, actual.FfnInput, tolerance, what + " ffn_input");
        Close.Equal(expected.RouterLogits, actual.Logits, tolerance, what + " router_logits");
        Close.Equal(expected.PresentKey, actual.Key, tolerance, what + " present_key");
        Close.Equal(expected.PresentValue, actual.Value, tolerance, what + " present_value");
    }

    private DenseResult RunDense(TensorDType dtype, int layer, float[] hidden, long[] positions, float[] bias, float[] pastKey, float[] pastValue, int past)
    {
        int t = positions.Length;
        var c = Config;
        var outputs = _model.Graph(dtype, GraphNames.DenseFile(layer)).Run(
            (GraphNames.Hidden, hidden, [t, c.DModel]),
            (GraphNames.Positions, positions, [t]),
            (GraphNames.AttentionBias, bias, [t, past + t]),
            (GraphNames.PastKey, pastKey, [c.Heads, past, c.HeadDim]),
            (GraphNames.PastValue, pastValue, [c.Heads, past, c.HeadDim]));
        return new DenseResult(
            outputs[GraphNames.Residual].Data,
            outputs[GraphNames.FfnInput].Data,
            outputs[GraphNames.RouterLogits].Data,
            outputs[GraphNames.PresentKey].Data,
            outputs[GraphNames.PresentValue].Data,
            outputs[GraphNames.PresentKey].Shape);
    }

    private sealed record DenseResult(float[] Residual, float[] FfnInput, float[] Logits, float[] Key, float[] Value, long[] KeyShape);
}
