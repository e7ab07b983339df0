using MoeServe.Router;

namespace MoeServe.Model.Tests.Configuration;

public sealed class ModelConfigTests
{
    private static ModelConfig Valid() => new()
    {
        VocabSize = 64,
        DModel = 16,
        Layers = 2,
        Heads = 2,
        Experts = 4,
        TopK = 2,
        ExpertHidden = 8,
        ContextLength = 32,
    };

    [Fact]
    public void ToJson_DefaultsAndCamelCase_UsesContractFieldNames()
    {
        string json = Valid().ToJson();
        foreach (string field in new[] { "vocabSize", "dModel", "layers", "heads", "experts", "topK", "expertHidden", "sharedExpertHidden", "contextLength", "ropeTheta", "normEps", "scoreFunction", "renormalize" })
        {
            Assert.Contains($"\"{field}\"", json, StringComparison.Ordinal);
        }

        Assert.Contains("\"softmax\"", json, StringComparison.Ordinal);
        Assert.DoesNotContain("hasSharedExpert", json, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("headDim", json, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void FromJson_RoundTrip_EqualsOriginal()
    {
        var config = Valid() with { ScoreFunction = ScoreFunction.Sigmoid, SharedExpertHidden = 12, Renormalize = false, RopeTheta = 500000 };
        Assert.Equal(config, ModelConfig.FromJson(config.ToJson()));
    }

    [Fact]
    public void FromJson_ContractExample_ParsesDefaults()
    {
        const string json = """{"vocabSize":4096,"dModel":256,"layers":4,"heads":4,"experts":16,"topK":2,"expertHidden":256,"contextLength":256}""";
        var config = ModelConfig.FromJson(json);
        Assert.Equal(10000.0, config.RopeTheta);
        Assert.Equal(1e-5, config.NormEps);
        Assert.Equal(ScoreFunction.Softmax, config.ScoreFunction);
        Assert.True(config.Renormalize);
        Assert.Equal(0, config.SharedExpertHidden);
        Assert.Empty(config.Validate());
    }

    [Fact]
    public void FromJson_UnknownScoreFunction_ThrowsNamingSource()
    {
        var ex = Assert.Throws<InvalidDataException>(() => ModelConfig.FromJson(Valid().ToJson().Replace("softmax", "tanh", StringComparison.Ordinal), "ckpt/config.json"));
        Assert.Contains("ckpt/config.json", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_SeveralBadFields_ListsEveryError()
    {
        var config = Valid() with { DModel = 15, TopK = 5, VocabSize = 0, NormEps = 0, SharedExpertHidden = -1 };
        var errors = config.Validate();
        Assert.Contains(errors, e => e.Contains("dModel", StringComparison.Ordinal) && e.Contains("heads", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("topK", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("vocabSize", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("normEps", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("sharedExpertHidden", StringComparison.Ordinal));
        Assert.Equal(5, errors.Count);
    }

    [Fact]
    public void Validate_OddHeadDim_Reported()
    {
        Assert.Contains((Valid() with { DModel = 6, Heads = 2 }).Validate(), e => e.Contains("even", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_MissingFile_ThrowsFileNotFound()
    {
        Assert.Throws<FileNotFoundException>(() => ModelConfig.Load(Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"), "config.json")));
    }
}
