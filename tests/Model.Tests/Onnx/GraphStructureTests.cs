using MoeServe.Model.Tests.Support;
using Onnx;

namespace MoeServe.Model.Tests.Onnx;

public sealed class GraphStructureTests : IClassFixture<ExportedTinyModel>
{
    private readonly ExportedTinyModel _model;

    public GraphStructureTests(ExportedTinyModel model) => _model = model;

    private static ModelProto Parse(string path) => ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));

    [Fact]
    public void Graphs_OpsetAndIrVersion_AreContractValues()
    {
        foreach (string file in Directory.EnumerateFiles(_model.Float16Dir, "*.onnx"))
        {
            var model = Parse(file);
            Assert.Equal(8, model.IrVersion);
            Assert.Equal(17, Assert.Single(model.OpsetImport).Version);
        }
    }

    [Fact]
    public void Float16Export_LargeWeightsHalfNormsAndGateFloat()
    {
        var qkv = Parse(Path.Combine(_model.Float16Dir, GraphNames.QkvFile(0)));
        var post = Parse(Path.Combine(_model.Float16Dir, GraphNames.PostFile(0)));
        var types = qkv.Graph.Initializer.Concat(post.Graph.Initializer).Where(i => i.Dims.Count == 2).ToDictionary(i => i.Name, i => i.DataType);
        Assert.Equal((int)TensorProto.Types.DataType.Float16, types["wqkv_t_fp16"]);
        Assert.Equal((int)TensorProto.Types.DataType.Float16, types["wo_t_fp16"]);
        Assert.Equal((int)TensorProto.Types.DataType.Float, types["gate_t"]);
        Assert.Contains(qkv.Graph.Initializer, i => i.Name == "attention_norm" && i.DataType == (int)TensorProto.Types.DataType.Float);
        Assert.Contains(post.Graph.Initializer, i => i.Name == "ffn_norm" && i.DataType == (int)TensorProto.Types.DataType.Float);
        var expert = Parse(Path.Combine(_model.Float16Dir, GraphNames.ExpertFile(0, 0)));
        Assert.All(expert.Graph.Initializer.Where(i => i.Dims.Count == 2), i => Assert.Equal((int)TensorProto.Types.DataType.Float16, i.DataType));
        var expert32 = Parse(Path.Combine(_model.Float32Dir, GraphNames.ExpertFile(0, 0)));
        Assert.All(expert32.Graph.Initializer.Where(i => i.Dims.Count == 2), i => Assert.Equal((int)TensorProto.Types.DataType.Float, i.DataType));
    }

    [Fact]
    public void Float16Export_EmbeddingIsGatheredThenWidened()
    {
        // A Cast of the whole table before the Gather is constant-folded at load into a float32 copy twice the size.
        var embed = Parse(Path.Combine(_model.Float16Dir, GraphNames.EmbedFile)).Graph;
        var table = Assert.Single(embed.Initializer);
        Assert.Equal((int)TensorProto.Types.DataType.Float16, table.DataType);
        Assert.Equal(new[] { "Gather", "Cast" }, embed.Node.Select(n => n.OpType).Take(2));
        Assert.Equal(table.Name, embed.Node[0].Input[0]);
        Assert.Equal(embed.Node[0].Output[0], embed.Node[1].Input[0]);
    }

    [Fact]
    public void QkvGraph_InputsAndOutputs_MatchContract()
    {
        var graph = _model.Graph(TensorDType.Float16, GraphNames.QkvFile(1));
        Assert.Equal(new[] { GraphNames.Hidden, GraphNames.Positions }, graph.InputNames);
        Assert.Equal(new[] { GraphNames.Query, GraphNames.Key, GraphNames.Value }, graph.OutputNames);
        var c = _model.Config;
        Assert.Equal(new[] { -1, c.DModel }, graph.InputMetadata[GraphNames.Hidden].Dimensions);
        Assert.Equal(new[] { "N", string.Empty }, graph.InputMetadata[GraphNames.Hidden].SymbolicDimensions);
        Assert.Equal(typeof(long), graph.InputMetadata[GraphNames.Positions].ElementType);
        foreach (string output in graph.OutputNames)
        {
            Assert.Equal(new[] { -1, c.Heads, c.HeadDim }, graph.OutputMetadata[output].Dimensions);
        }
    }

    [Fact]
    public void PostGraph_InputsAndOutputs_MatchContract()
    {
        var graph = _model.Graph(TensorDType.Float32, GraphNames.PostFile(0));
        Assert.Equal(new[] { GraphNames.Hidden, GraphNames.Attention }, graph.InputNames);
        Assert.Equal(new[] { GraphNames.Residual, GraphNames.FfnInput, GraphNames.RouterLogits }, graph.OutputNames);
        var c = _model.Config;
        Assert.Equal(new[] { "N", string.Empty }, graph.InputMetadata[GraphNames.Attention].SymbolicDimensions);
        Assert.Equal(new[] { -1, c.Experts }, graph.OutputMetadata[GraphNames.RouterLogits].Dimensions);
    }

    [Fact]
    public void ExpertAndHeadGraphs_HaveSymbolicTokenDimension()
    {
        var expert = _model.Graph(TensorDType.Float32, GraphNames.ExpertFile(0, 1));
        Assert.Equal(new[] { GraphNames.ExpertInput }, expert.InputNames);
        Assert.Equal(new[] { "N", string.Empty }, expert.InputMetadata[GraphNames.ExpertInput].SymbolicDimensions);
        var head = _model.Graph(TensorDType.Float32, GraphNames.HeadFile);
        Assert.Equal(new[] { -1, _model.Config.VocabSize }, head.OutputMetadata[GraphNames.Logits].Dimensions);
        var embed = _model.Graph(TensorDType.Float32, GraphNames.EmbedFile);
        Assert.Equal(typeof(long), embed.InputMetadata[GraphNames.InputIds].ElementType);
    }
}
