using MoeServe.Text.HuggingFace;

namespace MoeServe.Text.Tests.HuggingFace;

/// <summary>A MoeServe model directory is recognised by its manifest.json before the tokenizer files beside it.</summary>
public sealed class TokenizerSourceModelDirectoryTests
{
    [Fact]
    public void Detect_ModelDirectoryWithHuggingFaceTokenizerJson_IsTheModelAndLoadPointsToTheRuntime()
    {
        using var dir = new TempDirectory();
        string manifest = Path.Combine(dir.Path, "manifest.json");
        File.WriteAllText(manifest, "{}");
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer.json"), """{"model":{"type":"BPE","vocab":{},"merges":[]}}""");
        Assert.Equal(TokenizerSourceKind.HuggingFaceJson, TokenizerSource.Detect(Path.Combine(dir.Path, "tokenizer.json")).Kind);

        Assert.Equal((TokenizerSourceKind.MoeServeModel, manifest), TokenizerSource.Detect(dir.Path));
        Assert.Equal((TokenizerSourceKind.MoeServeModel, manifest), TokenizerSource.Detect(manifest));
        var refused = Assert.Throws<NotSupportedException>(() => TokenizerSource.Load(dir.Path));
        Assert.Contains("PromptEncoder", refused.Message, StringComparison.Ordinal);
    }
}
