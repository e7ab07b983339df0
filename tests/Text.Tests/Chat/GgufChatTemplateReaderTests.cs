using System.Text.Json.Nodes;
using MoeServe.Text.Chat;
using MoeServe.Text.Tests.HuggingFace;

namespace MoeServe.Text.Tests.Chat;

/// <summary>The fixture's GGUF and its Hugging Face directory ship the same template and token texts.</summary>
public sealed class GgufChatTemplateReaderTests
{
    [Fact]
    public void Read_FixtureGguf_EqualsTheHuggingFaceFiles()
    {
        string gguf = Path.Combine(HfTestFiles.MixtralFixtureDirectory, "mixtral.gguf");
        var reader = new GgufChatTemplateReader();
        Assert.True(reader.CanRead(gguf));
        Assert.False(reader.CanRead(Path.Combine(HfTestFiles.MixtralFixtureDirectory, "hf")));

        var fromGguf = reader.Read(gguf);
        var fromHf = new HuggingFaceChatTemplateReader().Read(Path.Combine(HfTestFiles.MixtralFixtureDirectory, "hf"));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(HfTestFiles.MixtralFixtureDirectory, "hf", "tokenizer_config.json")))!.AsObject();

        Assert.Equal(ChatTemplateSelector.FromTokenizerConfig(config), fromGguf.Template);
        Assert.Equal((fromHf.Template, fromHf.BosToken, fromHf.EosToken, fromHf.Family), (fromGguf.Template, fromGguf.BosToken, fromGguf.EosToken, fromGguf.Family));
        Assert.Contains("tokenizer.chat_template", fromGguf.Origin, StringComparison.Ordinal);
    }

    [Fact]
    public void ShippedChatTemplates_ReadsAGgufThroughTheRegisteredReaders()
    {
        string gguf = Path.Combine(HfTestFiles.MixtralFixtureDirectory, "mixtral.gguf");
        var shipped = ShippedChatTemplates.Read(gguf);
        Assert.Equal("mixtral", shipped.Family);
        Assert.Contains("<|im_start|>", shipped.Template, StringComparison.Ordinal);
    }
}
