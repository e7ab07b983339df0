using System.Text.Json;
using System.Text.Json.Nodes;
using MoeServe.Cli.Tests.Support;
using MoeServe.Model;
using MoeServe.Model.Import;
using MoeServe.TestSupport;
using MoeServe.Text.Tokenization;

namespace MoeServe.Cli.Tests;

/// <summary><c>tokenizer encode|decode --from MODEL_DIR</c> on MoeServe model directories: models/default and an imported one.</summary>
public sealed class TokenizerModelDirectoryTests : IDisposable
{
    private const string Text = "In the beginning God created the heaven and the earth.<|endoftext|>";

    private static readonly string DefaultModel = Path.Combine(FindRoot(), "models", "default");

    private readonly string _root = Path.Combine(Path.GetTempPath(), "moeserve-cli-tokenizer-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task EncodeThenDecode_DefaultModel_GivesTheProjectTokenizersIdsAndTheTextBack()
    {
        // The tiktoken files of models/default as `tokenizer encode --dir` opens them: a second way in to the same vocabulary.
        int[] expected = [.. TokenizerFiles.Load(DefaultModel).EncodeToIds(Text)];

        var encoded = await CliProcess.RunAsync("tokenizer", "encode", "--from", DefaultModel, "--text", Text, "--json");

        Assert.True(encoded.ExitCode == 0, encoded.Output);
        using var json = JsonDocument.Parse(encoded.StandardOutput);
        var ids = json.RootElement.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        Assert.Equal(expected, ids);
        Assert.Equal(ids.Length, json.RootElement.GetProperty("count").GetInt32());
        Assert.Equal(Text, string.Concat(json.RootElement.GetProperty("tokens").EnumerateArray().Select(t => t.GetString())));

        var decoded = await CliProcess.RunAsync("tokenizer", "decode", "--from", Path.Combine(DefaultModel, ModelManifest.FileName), "--ids", string.Join(',', ids));
        Assert.True(decoded.ExitCode == 0, decoded.Output);
        Assert.Equal(Text, decoded.StandardOutput.TrimEnd('\n'));
    }

    [Fact]
    public async Task Encode_ImportedModelAskingForBos_PutsBosInFrontUnlessRaw()
    {
        string model = ImportTinyMixtral(addBos: true);

        var withBos = await CliProcess.RunAsync("tokenizer", "encode", "--from", model, "--text", "Hi", "--json");
        var raw = await CliProcess.RunAsync("tokenizer", "encode", "--from", model, "--text", "Hi", "--json", "--raw");
        var plain = await CliProcess.RunAsync("tokenizer", "encode", "--from", model, "--text", "Hi");

        Assert.True(withBos.ExitCode == 0, withBos.Output);
        Assert.Equal([TinyHfCheckpoint.EndOfTextId, 72, 105], Ids(withBos.StandardOutput)); // one token per byte, BOS = <|endoftext|>
        Assert.Equal([72, 105], Ids(raw.StandardOutput));
        Assert.Contains("3 tokens (model tiny-mixtral, the runtime's tokenizer, BOS added)", plain.StandardOutput, StringComparison.Ordinal);

        var decoded = await CliProcess.RunAsync("tokenizer", "decode", "--from", model, "--ids", $"{TinyHfCheckpoint.EndOfTextId},72,105", "--skip-special");
        Assert.True(decoded.ExitCode == 0, decoded.Output);
        Assert.Equal("Hi", decoded.StandardOutput.TrimEnd('\n'));
    }

    [Fact]
    public async Task Decode_IdOutsideTheModelVocabulary_NamesIdsAndExits2()
    {
        var result = await CliProcess.RunAsync("tokenizer", "decode", "--from", DefaultModel, "--ids", "40,4096");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--ids: 4096 is outside the model's vocabulary of 4096", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Encode_BrokenManifest_NamesFromAndExits2()
    {
        Directory.CreateDirectory(_root);
        File.WriteAllText(Path.Combine(_root, ModelManifest.FileName), "{\"name\":");

        var result = await CliProcess.RunAsync("tokenizer", "encode", "--from", _root, "--text", "hi");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("error: --from:", result.StandardError, StringComparison.Ordinal);
        Assert.Contains(ModelManifest.FileName, result.StandardError, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private string ImportTinyMixtral(bool addBos)
    {
        string source = Path.Combine(_root, "hf");
        TinyHfCheckpoint.Write(HfFamily.Mixtral, source, seed: 3);
        string configPath = Path.Combine(source, "tokenizer_config.json");
        var tokenizerConfig = JsonNode.Parse(File.ReadAllText(configPath))!;
        tokenizerConfig["add_bos_token"] = addBos;
        File.WriteAllText(configPath, tokenizerConfig.ToJsonString());
        string model = Path.Combine(_root, "tiny-mixtral");
        new HfImporter().Import(new ImportOptions { Source = source, OutputDirectory = model, WeightType = TensorDType.Float32 });
        return model;
    }

    private static int[] Ids(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return [.. doc.RootElement.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32())];
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MoeServe.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("MoeServe.sln not found above " + AppContext.BaseDirectory);
    }
}
