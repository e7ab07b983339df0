using MoeServe.Model;
using MoeServe.Model.Gguf;
using MoeServe.Model.Import;
using MoeServe.Text.Chat;
using MoeServe.Text.HuggingFace;

namespace MoeServe.Text.Import;

/// <summary>
/// The importer's tokenizer and chat template, from src/Text (wired by the import command through
/// <see cref="IImportTokenizerProvider"/>, since src/Model cannot reference this project):
/// <list type="bullet">
/// <item>a GGUF's <c>tokenizer.ggml.*</c> metadata becomes tokenizer.json and tokenizer_config.json
/// (<see cref="GgufTokenizerConverter"/>); a Hugging Face directory's files are copied (<see cref="HfTokenizerFiles"/>);</item>
/// <item>either way the tokenizer is loaded once with the runtime's loader (<see cref="HuggingFaceTokenizerLoader"/>),
/// so a tokenizer the server could not load is refused before anything is written;</item>
/// <item>the chat template is chosen by <see cref="ChatTemplateSelector"/>: the user's file, else the shipped one (a GGUF's
/// <c>tokenizer.chat_template</c>, tokenizer_config.json's <c>chat_template</c>) when usable, else the family's built-in.</item>
/// </list>
/// </summary>
public sealed class ImportTokenizerProvider : IImportTokenizerProvider
{
    /// <inheritdoc />
    public ImportTokenizer Prepare(IHfCheckpoint checkpoint, HfModelMapping mapping, ImportOptions options)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(mapping);
        ArgumentNullException.ThrowIfNull(options);
        IReadOnlyList<ImportFile> files;
        ShippedChatTemplate? shipped;
        HuggingFaceTokenizer loaded;
        if (checkpoint is GgufCheckpoint gguf && options.TokenizerDirectory is null)
        {
            var metadata = gguf.Tokenizer
                ?? throw new UnsupportedCheckpointException($"{gguf.Source}: the GGUF carries no tokenizer (no tokenizer.ggml.model); pass a tokenizer directory.");
            string json;
            string config;
            try
            {
                json = GgufTokenizerConverter.ToTokenizerJson(metadata);
                config = GgufTokenizerConverter.ToTokenizerConfigJson(metadata);
            }
            catch (Exception e) when (e is NotSupportedException or InvalidDataException)
            {
                throw new UnsupportedCheckpointException($"unsupported GGUF tokenizer in {gguf.Source}: {e.Message}", e);
            }

            files = [new ImportFile(HfTokenizerFiles.TokenizerJson, Content: json), new ImportFile(HfTokenizerFiles.TokenizerConfigJson, Content: config)];
            loaded = Load(gguf.Source, () => HuggingFaceTokenizerLoader.FromJson(json, config));
            shipped = GgufChatTemplateReader.FromMetadata(metadata, mapping.ModelType, gguf.Source);
        }
        else
        {
            files = HfTokenizerFiles.Locate(checkpoint, options);
            string tokenizerJson = files[0].CopyFrom!;
            loaded = Load(tokenizerJson, () => HuggingFaceTokenizerLoader.Load(tokenizerJson));
            string directory = HfTokenizerFiles.DirectoryOf(options);
            var reader = new HuggingFaceChatTemplateReader();
            shipped = reader.CanRead(directory) ? reader.Read(directory) : null;
        }

        var facts = HfTokenizerFiles.FromFiles(files, mapping.Config.VocabSize);
        var selection = SelectChatTemplate(mapping.ModelType, shipped, options.ChatTemplateFile);
        return facts with
        {
            BosId = loaded.BosId,
            EosId = loaded.EosId,
            ChatTemplate = new ManifestJinjaChatTemplate
            {
                Template = selection.Template.Source,
                BosToken = shipped?.BosToken,
                EosToken = shipped?.EosToken,
            },
            ChatTemplateDescription = selection.Description,
        };
    }

    private static HuggingFaceTokenizer Load(string source, Func<HuggingFaceTokenizer> load)
    {
        try
        {
            return load();
        }
        catch (Exception e) when (e is NotSupportedException or InvalidDataException or System.Text.Json.JsonException)
        {
            throw new UnsupportedCheckpointException($"unsupported tokenizer ({source}): {e.Message.Split('\n')[0].TrimEnd('\r')}", e);
        }
    }

    private static ChatTemplateSelection SelectChatTemplate(string family, ShippedChatTemplate? shipped, string? userFile)
    {
        string? userTemplate = null;
        if (userFile is not null)
        {
            if (!File.Exists(userFile))
            {
                throw new UnsupportedCheckpointException($"--chat-template: file '{userFile}' not found.");
            }

            userTemplate = File.ReadAllText(userFile);
        }

        try
        {
            return ChatTemplateSelector.Select(family, shipped?.Template, userTemplate, userFile is null ? null : Path.GetFileName(userFile), shipped?.EosToken);
        }
        catch (JinjaException e)
        {
            // Only the user's file can fail here: an unusable shipped template falls back to the family's built-in.
            throw new UnsupportedCheckpointException($"--chat-template: {userFile}: {e.Message}", e);
        }
    }
}
