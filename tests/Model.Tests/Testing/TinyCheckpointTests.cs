using MoeServe.Model.Testing;
using MoeServe.Model.Tests.Support;
using MoeServe.Text.Tokenization;

namespace MoeServe.Model.Tests.Testing;

public sealed class TinyCheckpointTests
{
    [Fact]
    public void CreateRandom_SameSeed_SameWeightsAndQ()
    {
        using var temp = new TempDirectory();
        var a = TinyCheckpoint.CreateRandom(temp.Sub("a"), TinyCheckpoint.DefaultConfig, seed: 42);
        var b = TinyCheckpoint.CreateRandom(temp.Sub("b"), TinyCheckpoint.DefaultConfig, seed: 42);
        var c = TinyCheckpoint.CreateRandom(temp.Sub("c"), TinyCheckpoint.DefaultConfig, seed: 43);
        Assert.Equal(File.ReadAllBytes(a.WeightsPath), File.ReadAllBytes(b.WeightsPath));
        Assert.Equal(File.ReadAllText(a.BalancingPath), File.ReadAllText(b.BalancingPath));
        Assert.NotEqual(File.ReadAllBytes(a.WeightsPath), File.ReadAllBytes(c.WeightsPath));
    }

    [Fact]
    public void CreateRandom_WritesCompleteCheckpoint()
    {
        using var temp = new TempDirectory();
        var config = TinyCheckpoint.DefaultConfig with { SharedExpertHidden = 8 };
        var layout = TinyCheckpoint.CreateRandom(temp.Sub("ckpt"), config, seed: 1);
        Assert.Empty(layout.FindMissingRequiredFiles());
        Assert.True(File.Exists(layout.SummaryPath));
        Assert.Equal(config, ModelConfig.Load(layout.ConfigPath));
        Assert.Empty(CheckpointTensorNames.Check(config, SafeTensorsFile.Read(layout.WeightsPath)));
        var (method, q) = BalancingFile.Read(layout.BalancingPath, config);
        Assert.Equal("bip", method);
        Assert.All(q, v => Assert.Contains(v, x => x > 0));
    }

    [Fact]
    public void CreateRandom_ByteTokenizer_LoadsWithTextLibraryAndRoundTrips()
    {
        using var temp = new TempDirectory();
        var layout = TinyCheckpoint.CreateRandom(temp.Sub("ckpt"), TinyCheckpoint.DefaultConfig, seed: 1);
        var tokenizer = TokenizerFiles.Load(layout.Directory);
        const string text = "In the beginning<|endoftext|>";
        var ids = tokenizer.EncodeToIds(text);
        Assert.Equal(TinyCheckpoint.ByteTokenizerEndOfTextId, ids[^1]);
        Assert.All(ids, id => Assert.InRange(id, 0, TinyCheckpoint.DefaultConfig.VocabSize - 1));
        Assert.Equal(text, tokenizer.Decode(ids));
    }

    [Fact]
    public void CreateRandom_TokenizerDirectory_CopiedAndSizeChecked()
    {
        using var temp = new TempDirectory();
        var source = TinyCheckpoint.CreateRandom(temp.Sub("src"), TinyCheckpoint.DefaultConfig, seed: 1);
        var copy = TinyCheckpoint.CreateRandom(temp.Sub("copy"), TinyCheckpoint.DefaultConfig, seed: 2, new TinyCheckpointOptions { TokenizerDirectory = source.Directory });
        Assert.Equal(File.ReadAllText(source.TokenizerJsonPath), File.ReadAllText(copy.TokenizerJsonPath));
    }

    [Fact]
    public void CreateRandom_VocabTooSmallForByteTokenizer_Throws()
    {
        using var temp = new TempDirectory();
        var ex = Assert.Throws<ArgumentException>(() => TinyCheckpoint.CreateRandom(temp.Sub("x"), TinyCheckpoint.DefaultConfig with { VocabSize = 100 }, seed: 1));
        Assert.Contains("vocabSize", ex.Message, StringComparison.Ordinal);
    }
}
