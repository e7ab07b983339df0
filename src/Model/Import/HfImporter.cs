using System.Text.Json.Nodes;
using MoeServe.Model.Onnx;

namespace MoeServe.Model.Import;

/// <summary>What to import where.</summary>
public sealed record ImportOptions
{
    /// <summary>A Hugging Face model directory or a .gguf file; opened with <see cref="HfCheckpointOpener.Open"/>.</summary>
    public required string Source { get; init; }

    /// <summary>The model directory to create (models/NAME); written as a temporary sibling and renamed at the end.</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>Weight storage inside the graphs (norms, biases and router gates stay float32).</summary>
    public TensorDType WeightType { get; init; } = TensorDType.Float16;

    /// <summary>Expert and attention matrices blockwise quantized (MatMulNBits), or null to keep them in <see cref="WeightType"/>.</summary>
    public Quantization.QuantizationSettings? Quantization { get; init; }

    /// <summary>Model name in the manifest (default: the output directory's name).</summary>
    public string? Name { get; init; }

    /// <summary>Caps the served context length below max_position_embeddings (null: keep it); the KV cache is sized by it.</summary>
    public int? ContextLength { get; init; }

    /// <summary>Directory holding tokenizer.json (and tokenizer_config.json); null: the source directory (a GGUF: its own metadata).</summary>
    public string? TokenizerDirectory { get; init; }

    /// <summary>A Jinja chat template file that overrides the one the model ships (read by the tokenizer provider).</summary>
    public string? ChatTemplateFile { get; init; }
}

/// <summary>One graph (or other file) written by an import.</summary>
/// <param name="Done">Files written so far.</param>
/// <param name="Total">Files the import writes.</param>
/// <param name="Layer">The layer the file belongs to (-1 for embed, head, tokenizer and manifest).</param>
/// <param name="Layers">The model's layer count.</param>
/// <param name="File">The file just written.</param>
/// <param name="LayerComplete">Whether this was the layer's last graph.</param>
public readonly record struct ImportProgress(int Done, int Total, int Layer, int Layers, string File, bool LayerComplete = false);

/// <summary>What an import produced.</summary>
/// <param name="Manifest">The written manifest.</param>
/// <param name="OutputDirectory">The model directory.</param>
/// <param name="ModelType">The source's model_type.</param>
/// <param name="Files">Files written.</param>
/// <param name="TotalBytes">Their size.</param>
/// <param name="Elapsed">Wall time.</param>
/// <param name="ChatTemplateDescription">Which chat template the model got and why (one line), or null when none was chosen.</param>
/// <param name="Quantization">With --weights int8/int4: the matrices copied from GGUF blocks and the round-trip error of the re-quantized rest; null for float.</param>
public sealed record ImportResult(ModelManifest Manifest, string OutputDirectory, string ModelType, int Files, long TotalBytes, TimeSpan Elapsed, string? ChatTemplateDescription = null, Quantization.QuantizationError? Quantization = null);

/// <summary>
/// Imports a Hugging Face MoE checkpoint (seen through <see cref="IHfCheckpoint"/> only, so a GGUF reader
/// serves too) as a MoeServe model directory: one ONNX graph per expert per layer, the dense graphs,
/// the tokenizer files and manifest.json (format 3). Everything that cannot be run exactly is refused
/// before anything is written; the output appears only when complete (a temporary sibling renamed).
/// </summary>
public sealed class HfImporter
{
    /// <summary>Names the temporary sibling directory an import writes into.</summary>
    public const string TemporarySuffix = ".importing";

    private readonly TimeProvider _time;
    private readonly IImportTokenizerProvider _tokenizers;

    /// <summary>Creates an importer.</summary>
    /// <param name="time">Clock for the manifest and the elapsed time (system clock when null).</param>
    /// <param name="tokenizers">
    /// Supplies the tokenizer files and chat template (default <see cref="HfTokenizerFiles"/>: a Hugging Face
    /// directory's files copied, no chat template; src/Text's ImportTokenizerProvider adds GGUF tokenizers and templates).
    /// </param>
    public HfImporter(TimeProvider? time = null, IImportTokenizerProvider? tokenizers = null)
    {
        _time = time ?? TimeProvider.System;
        _tokenizers = tokenizers ?? new HfTokenizerFiles();
    }

    /// <summary>Opens <see cref="ImportOptions.Source"/> with <see cref="HfCheckpointOpener.Open"/> and imports it.</summary>
    /// <param name="options">What to import where.</param>
    /// <param name="progress">One report per file written.</param>
    /// <param name="cancellationToken">Stops between files (nothing is left in the output).</param>
    /// <exception cref="UnsupportedCheckpointException">Refused up front (unsupported family, key, dtype, missing tensor).</exception>
    public ImportResult Import(ImportOptions options, IProgress<ImportProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var checkpoint = HfCheckpointOpener.Open(options.Source);
        return Import(checkpoint, options, progress, cancellationToken);
    }

    /// <summary>Imports an already opened checkpoint (options.Source is only recorded).</summary>
    /// <param name="checkpoint">The checkpoint.</param>
    /// <param name="options">What to import where.</param>
    /// <param name="progress">One report per file written.</param>
    /// <param name="cancellationToken">Stops between files.</param>
    public ImportResult Import(IHfCheckpoint checkpoint, ImportOptions options, IProgress<ImportProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(options);
        long start = _time.GetTimestamp();

        // Everything that can be refused is refused here, before a byte is written.
        var mapping = HfModelMapping.FromConfig(checkpoint, options.ContextLength);
        var config = mapping.Config;
        var source = new HfTensorSource(checkpoint, mapping);
        var missing = CheckpointTensorNames.Check(config, source);
        if (missing.Count > 0)
        {
            throw new UnsupportedCheckpointException(missing[0] + (missing.Count > 1 ? $" (and {missing.Count - 1} more tensor problems)" : ""));
        }

        var tokenizer = _tokenizers.Prepare(checkpoint, mapping, options);
        int bosId = mapping.BosId >= 0 ? mapping.BosId : tokenizer.BosId ?? -1;
        IReadOnlyList<int> eosIds = mapping.EosIds.Count > 0 ? mapping.EosIds : tokenizer.EosId is int eos ? [eos] : [];
        foreach (int id in eosIds.Append(bosId).Where(id => id >= config.VocabSize))
        {
            throw new UnsupportedCheckpointException($"unsupported config: token id {id} (bos/eos) is outside vocab_size {config.VocabSize}");
        }

        string output = Path.GetFullPath(options.OutputDirectory).TrimEnd(Path.DirectorySeparatorChar);
        if (File.Exists(output))
        {
            throw new IOException($"--out: {options.OutputDirectory} is a file.");
        }

        if (Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any() && !File.Exists(Path.Combine(output, ModelManifest.FileName)))
        {
            throw new IOException($"--out: {options.OutputDirectory} exists and is not a model directory (no {ModelManifest.FileName}); refusing to replace it.");
        }

        string parent = Path.GetDirectoryName(output)!;
        Directory.CreateDirectory(parent);
        string temp = Path.Combine(parent, $".{Path.GetFileName(output)}{TemporarySuffix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(temp);
        try
        {
            var factory = new MoeGraphFactory(config, source, options.WeightType, options.Quantization);
            var graphs = factory.Plan();
            int total = graphs.Count + tokenizer.Files.Count + 1;
            int done = 0;
            long bytes = 0;
            for (int i = 0; i < graphs.Count; i++)
            {
                var (file, layer, build) = graphs[i];
                cancellationToken.ThrowIfCancellationRequested();
                bytes += MoeGraphFactory.Write(build(), Path.Combine(temp, file));
                bool last = layer >= 0 && graphs[i + 1].Layer != layer;
                done++;
                progress?.Report(new ImportProgress(done, total, layer, config.Layers, file, last));
            }

            foreach (var file in tokenizer.Files)
            {
                string to = Path.Combine(temp, file.Name);
                if (file.CopyFrom is not null)
                {
                    File.Copy(file.CopyFrom, to);
                }
                else
                {
                    File.WriteAllText(to, file.Content);
                }

                bytes += new FileInfo(to).Length;
                done++;
                progress?.Report(new ImportProgress(done, total, -1, config.Layers, file.Name));
            }

            var manifest = new ModelManifest
            {
                Name = options.Name ?? Path.GetFileName(output),
                Config = config,
                WeightDType = options.WeightType,
                Quantization = options.Quantization,
                Graphs = ManifestGraphs.For(config),
                Tokenizer = new ManifestTokenizer
                {
                    Kind = TokenizerKind.HuggingFace,
                    HuggingFaceTokenizer = HfTokenizerFiles.TokenizerJson,
                    HuggingFaceConfig = tokenizer.Files.Any(f => f.Name == HfTokenizerFiles.TokenizerConfigJson) ? HfTokenizerFiles.TokenizerConfigJson : null,
                },
                SpecialTokens = new Dictionary<string, int>(tokenizer.SpecialTokens, StringComparer.Ordinal),
                EndOfTextId = eosIds.Count > 0 ? eosIds[0] : -1,
                EndOfSequenceIds = eosIds,
                BosId = bosId,
                AddBos = tokenizer.AddBos,
                JinjaChatTemplate = tokenizer.ChatTemplate,
                Routing = ManifestRouting.For(config, "none", Enumerable.Range(0, config.Layers).Select(_ => new float[config.Experts]).ToArray()),
                Export = new ManifestExportInfo
                {
                    CreatedUtc = _time.GetUtcNow(),
                    Checkpoint = checkpoint.Source,
                    Tool = "moeserve import",
                    Import = new JsonObject
                    {
                        ["format"] = checkpoint is Gguf.GgufCheckpoint ? "gguf" : "huggingface",
                        ["modelType"] = mapping.ModelType,
                        ["routingQ"] = "zeros: imported models have no trained q, so routing is plain top-K of the softmax scores",
                        ["maxPositionEmbeddings"] = checkpoint.Config["max_position_embeddings"]?.DeepClone(),
                    },
                },
            };

            var errors = ModelManifestValidator.Validate(manifest, temp);
            if (errors.Count > 0)
            {
                throw new InvalidDataException("Import produced an invalid model:" + Environment.NewLine + "  - " + string.Join(Environment.NewLine + "  - ", errors));
            }

            manifest.Save(temp);
            bytes += new FileInfo(Path.Combine(temp, ModelManifest.FileName)).Length;
            done++;
            progress?.Report(new ImportProgress(done, total, -1, config.Layers, ModelManifest.FileName));

            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true); // checked above: empty or a previous model
            }

            Directory.Move(temp, output);
            return new ImportResult(manifest, output, mapping.ModelType, done, bytes, _time.GetElapsedTime(start), tokenizer.ChatTemplateDescription, options.Quantization is null ? null : factory.QuantizationError);
        }
        catch
        {
            try
            {
                Directory.Delete(temp, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: the temporary sibling is hidden and named as such.
            }

            throw;
        }
    }


}

/// <summary>
/// MoeServe tensor names read from an <see cref="IHfCheckpoint"/> under their transformers names, one
/// tensor per read. A routed expert missing under its per-expert name is sliced out of transformers'
/// fused 3D layout when the checkpoint has that instead; the fused tensor of the layer last read is
/// kept, so a layer's experts read it once (the import goes layer by layer, expert by expert).
/// </summary>
internal sealed class HfTensorSource(IHfCheckpoint checkpoint, HfModelMapping mapping) : Quantization.IQuantizedTensorSource
{
    private readonly HashSet<string> _names = new(checkpoint.TensorNames, StringComparer.Ordinal);
    private string? _fusedName;
    private float[] _fused = [];

    public string Source => checkpoint.Source;

    public int[]? ShapeOf(string name)
    {
        string hf = mapping.HfName(name);
        if (_names.Contains(hf))
        {
            return ToInt(checkpoint.Shape(hf));
        }

        if (Fused(name) is not { } fused)
        {
            return null;
        }

        var shape = checkpoint.Shape(fused.Name);
        if (shape.Count != 3 || fused.Expert >= shape[0])
        {
            return null;
        }

        return fused.Part == "w2" ? [(int)shape[1], (int)shape[2]] : [(int)(shape[1] / 2), (int)shape[2]];
    }

    public FloatTensor Read(string name)
    {
        string hf = mapping.HfName(name);
        int[] shape = ShapeOf(name) ?? throw new KeyNotFoundException($"{Source}: missing tensor '{hf}'.");
        float[] data = GC.AllocateUninitializedArray<float>(shape.Aggregate(1, (a, b) => checked(a * b)));
        if (_names.Contains(hf))
        {
            checkpoint.ReadFloat32(hf, data);
            return new FloatTensor(shape, data);
        }

        var fused = Fused(name)!.Value;
        var full = checkpoint.Shape(fused.Name);
        if (_fusedName != fused.Name)
        {
            _fused = [];
            _fused = GC.AllocateUninitializedArray<float>(checked((int)(full[0] * full[1] * full[2])));
            checkpoint.ReadFloat32(fused.Name, _fused);
            _fusedName = fused.Name;
        }

        // gate_up_proj[e] is [2h, d]: rows 0..h the gate (w1), rows h..2h the up projection (w3); down_proj[e] is [d, h].
        long perExpert = full[1] * full[2];
        long offset = (fused.Expert * perExpert) + (fused.Part == "w3" ? data.Length : 0);
        _fused.AsSpan((int)offset, data.Length).CopyTo(data);
        return new FloatTensor(shape, data);
    }

    public string DescribeName(string name) => mapping.HfName(name);

    // Only a GGUF stores blocks; a fused Hugging Face tensor never does.
    public Quantization.BlockQuantizedMatrix? TryReadQuantized(string name, int bits)
    {
        string hf = mapping.HfName(name);
        return checkpoint is Gguf.GgufCheckpoint gguf && _names.Contains(hf) ? gguf.TryCopyBlocks(hf, bits) : null;
    }

    private (string Name, int Expert, string Part)? Fused(string name)
    {
        if (mapping.FusedExpertSource(name) is not { } source)
        {
            return null;
        }

        string? present = source.FusedNames.FirstOrDefault(_names.Contains);
        return present is null ? null : (present, source.Expert, source.Part);
    }

    private static int[] ToInt(IReadOnlyList<long> shape) => shape.Select(d => checked((int)d)).ToArray();
}
