using MoeServe.Model.Tests.Support;
using MoeServe.TestSupport;
using MoeServe.Text.Tokenization;

namespace MoeServe.Model.Tests.Checkpoints;

public sealed class RandomCheckpointTests
{
    [Fact]
    public void Write_SameSeed_SameWeightsAndQ()
    {
        using var temp = new TempDirectory();
        var a = RandomCheckpoint.Write(temp.Sub("a"), TinyCheckpoint.DefaultConfig, seed: 42);
        var b = RandomCheckpoint.Write(temp.Sub("b"), TinyCheckpoint.DefaultConfig, seed: 42);
        var c = RandomCheckpoint.Write(temp.Sub("c"), TinyCheckpoint.DefaultConfig, seed: 43);
        Assert.Equal(File.ReadAllBytes(a.WeightsPath), File.ReadAllBytes(b.WeightsPath));
        Assert.Equal(File.ReadAllText(a.BalancingPath), File.ReadAllText(b.BalancingPath));
        Assert.NotEqual(File.ReadAllBytes(a.WeightsPath), File.ReadAllBytes(c.WeightsPath));
    }

    [Fact]
    public void Write_WritesCompleteCheckpoint()
    {
        using var temp = new TempDirectory();
        var config = TinyCheckpoint.DefaultConfig with { SharedExpertHidden = 8 };
        var layout = RandomCheckpoint.Write(temp.Sub("ckpt"), config, seed: 1);
        Assert.Empty(layout.FindMissingRequiredFiles());
        Assert.True(File.Exists(layout.SummaryPath));
        Assert.Equal(config, ModelConfig.Load(layout.ConfigPath));
        Assert.Empty(CheckpointTensorNames.Check(config, SafeTensorsFile.Read(layout.WeightsPath)));
        var (method, q) = BalancingFile.Read(layout.BalancingPath, config);
        Assert.Equal("bip", method);
        Assert.All(q, v => Assert.Contains(v, x => x > 0));
    }

    [Fact]
    public void Write_ByteTokenizer_LoadsWithTextLibraryAndRoundTrips()
    {
        using var temp = new TempDirectory();
        var layout = RandomCheckpoint.Write(temp.Sub("ckpt"), TinyCheckpoint.DefaultConfig, seed: 1);
        var tokenizer = TokenizerFiles.Load(layout.Directory);
        const string text = "In the beginning<|endoftext|>";
        var ids = tokenizer.EncodeToIds(text);
        Assert.Equal(RandomCheckpoint.ByteTokenizerEndOfTextId, ids[^1]);
        Assert.All(ids, id => Assert.InRange(id, 0, TinyCheckpoint.DefaultConfig.VocabSize - 1));
        Assert.Equal(text, tokenizer.Decode(ids));
    }

    [Fact]
    public void Write_TokenizerDirectory_CopiedAndSizeChecked()
    {
        using var temp = new TempDirectory();
        var source = RandomCheckpoint.Write(temp.Sub("src"), TinyCheckpoint.DefaultConfig, seed: 1);
        var copy = RandomCheckpoint.Write(temp.Sub("copy"), TinyCheckpoint.DefaultConfig, seed: 2, new RandomCheckpointOptions { TokenizerDirectory = source.Directory });
        Assert.Equal(File.ReadAllText(source.TokenizerJsonPath), File.ReadAllText(copy.TokenizerJsonPath));
    }

    [Fact]
    public void Write_VocabTooSmallForByteTokenizer_Throws()
    {
        using var temp = new TempDirectory();
        var ex = Assert.Throws<ArgumentException>(() => RandomCheckpoint.Write(temp.Sub("x"), TinyCheckpoint.DefaultConfig with { VocabSize = 100 }, seed: 1));
        Assert.Contains("vocabSize", ex.Message, StringComparison.Ordinal);
    }
}
