using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

using MoeServe.Router;

namespace MoeServe.Model;

/// <summary>
/// models/NAME/manifest.json: everything the runtime needs to serve an exported model. Paths are
/// relative to the manifest's directory. Written by export, read (and validated) by the runtime.
/// </summary>
public sealed record ModelManifest
{
    /// <summary>The manifest file name.</summary>
    public const string FileName = "manifest.json";

    /// <summary>
    /// The format version this library writes. 3: the config may describe grouped-query attention, an explicit
    /// head width, q/k norms, q/k/v biases, a gated shared expert and an untied head; the tokenizer has a kind
    /// (MoeServe's tiktoken pair or a Hugging Face tokenizer.json); BOS and EOS ids. 2: per layer a qkv and a
    /// post graph over all tokens of a step (1 had one dense graph per sequence with the KV cache passed through it).
    /// </summary>
    public const int CurrentFormatVersion = 3;

    /// <summary>The oldest format version this library still reads (2: the same graphs, none of format 3's additions).</summary>
    public const int OldestReadableFormatVersion = 2;

    /// <summary>Format version of this manifest.</summary>
    public int FormatVersion { get; init; } = CurrentFormatVersion;

    /// <summary>Model name (the output directory's name by default).</summary>
    public required string Name { get; init; }

    /// <summary>Architecture and dimensions.</summary>
    public required ModelConfig Config { get; init; }

    /// <summary>How weights are stored inside the graphs (float16 ones are widened to float32 at load).</summary>
    public TensorDType WeightDType { get; init; } = TensorDType.Float32;

    /// <summary>
    /// How the expert matrices and attention projections are quantized (MatMulNBits), or null when they are
    /// float like the rest (<see cref="WeightDType"/>); omitted from the JSON when null, so older manifests read as float.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public MoeServe.Model.Quantization.QuantizationSettings? Quantization { get; init; }

    /// <summary>float, int8 or int4: <see cref="Quantization"/>'s mode, float when there is none.</summary>
    [JsonIgnore]
    public MoeServe.Model.Quantization.WeightQuantization Weights => Quantization?.Mode ?? MoeServe.Model.Quantization.WeightQuantization.Float;

    /// <summary>File of every graph.</summary>
    public required ManifestGraphs Graphs { get; init; }

    /// <summary>The tokenizer files.</summary>
    public required ManifestTokenizer Tokenizer { get; init; }

    /// <summary>Special tokens and their ids (from tokenizer.json).</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens { get; init; } = new Dictionary<string, int>();

    /// <summary>Id of the end-of-text token, which ends generation (-1 when the tokenizer has none); with several EOS ids, the first.</summary>
    public int EndOfTextId { get; init; } = -1;

    /// <summary>Format 3: every id that ends generation (Hugging Face's eos_token_id may be a list); empty means just <see cref="EndOfTextId"/>.</summary>
    public IReadOnlyList<int> EndOfSequenceIds { get; init; } = [];

    /// <summary>Format 3: the beginning-of-sequence id (-1 when none); whether it is prepended is <see cref="AddBos"/>.</summary>
    public int BosId { get; init; } = -1;

    /// <summary>Format 3: whether a prompt starts with <see cref="BosId"/> (Hugging Face's add_bos_token).</summary>
    public bool AddBos { get; init; }

    /// <summary>Every id that ends generation: <see cref="EndOfSequenceIds"/>, else <see cref="EndOfTextId"/> when set.</summary>
    public IReadOnlyList<int> StopTokenIds() =>
        EndOfSequenceIds is { Count: > 0 } ids ? ids : EndOfTextId >= 0 ? [EndOfTextId] : [];

    /// <summary>Routing: score function, top-K, renormalisation and per-layer q.</summary>
    public required ManifestRouting Routing { get; init; }

    /// <summary>A simple chat template for the server's chat endpoint.</summary>
    public ChatTemplate ChatTemplate { get; init; } = new();

    /// <summary>An optional Jinja chat template (Hugging Face style) that replaces <see cref="ChatTemplate"/> on the chat endpoint; omitted from the JSON when null.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ManifestJinjaChatTemplate? JinjaChatTemplate { get; init; }

    /// <summary>The training summary copied from the checkpoint's summary.json (method, steps, validationPerplexity, ...), or null.</summary>
    public JsonObject? Training { get; init; }

    /// <summary>When and from what the model was exported.</summary>
    public ManifestExportInfo? Export { get; init; }

    /// <summary>Every file the manifest references, relative to its directory.</summary>
    public IEnumerable<string> ReferencedFiles()
    {
        yield return Graphs.Embed;
        foreach (var layer in Graphs.Layers)
        {
            yield return layer.Qkv;
            yield return layer.Post;
            foreach (string expert in layer.Experts)
            {
                yield return expert;
            }

            if (layer.Shared is not null)
            {
                yield return layer.Shared;
            }
        }

        yield return Graphs.Head;
        foreach (string file in Tokenizer.Files())
        {
            yield return file;
        }
    }

    /// <summary>The manifest as indented camelCase JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, ModelJson.Options);

    /// <summary>Writes manifest.json into <paramref name="directory"/> (a temporary file, then a rename).</summary>
    /// <param name="directory">The model directory.</param>
    public void Save(string directory)
    {
        string path = Path.Combine(directory, FileName);
        string temp = path + ".tmp";
        File.WriteAllText(temp, ToJson());
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Parses manifest JSON without checking files (see <see cref="ModelManifestValidator"/>).</summary>
    /// <param name="json">The JSON text.</param>
    /// <param name="source">Named in errors.</param>
    public static ModelManifest FromJson(string json, string source = FileName) =>
        ModelJson.Deserialize<ModelManifest>(json, source, "a valid model manifest")
            ?? throw new InvalidDataException($"{source} is empty.");

    /// <summary>
    /// Reads models/NAME/manifest.json and validates it against the files beside it; throws one
    /// <see cref="InvalidDataException"/> listing every problem (missing files by name).
    /// </summary>
    /// <param name="directory">The model directory.</param>
    public static ModelManifest Load(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"No {FileName} in '{directory}'. Export one with: export --checkpoint <dir> --out {directory}", path);
        }

        var manifest = FromJson(File.ReadAllText(path), path);
        var errors = ModelManifestValidator.Validate(manifest, directory);
        if (errors.Count > 0)
        {
            throw new InvalidDataException(ErrorList.Format($"Invalid model {path}", errors));
        }

        return manifest;
    }
}

/// <summary>The graph files of an exported model, relative to the manifest.</summary>
public sealed record ManifestGraphs
{
    /// <summary>embed.onnx.</summary>
    public required string Embed { get; init; }

    /// <summary>head.onnx.</summary>
    public required string Head { get; init; }

    /// <summary>One entry per layer, in order.</summary>
    public required IReadOnlyList<ManifestLayer> Layers { get; init; }

    /// <summary>The file names export and import write for <paramref name="config"/> (GraphNames' layout).</summary>
    internal static ManifestGraphs For(ModelConfig config) => new()
    {
        Embed = GraphNames.EmbedFile,
        Head = GraphNames.HeadFile,
        Layers = Enumerable.Range(0, config.Layers).Select(l => new ManifestLayer
        {
            Qkv = GraphNames.QkvFile(l),
            Post = GraphNames.PostFile(l),
            Experts = Enumerable.Range(0, config.Experts).Select(j => GraphNames.ExpertFile(l, j)).ToArray(),
            Shared = config.HasSharedExpert ? GraphNames.SharedFile(l) : null,
        }).ToArray(),
    };
}

/// <summary>The graph files of one layer.</summary>
public sealed record ManifestLayer
{
    /// <summary>layer{l}.qkv.onnx: attention norm, Q/K/V and RoPE over all tokens of a step.</summary>
    public string Qkv { get; init; } = "";

    /// <summary>layer{l}.post.onnx: Wo, residual, ffn norm and router logits over all tokens of a step.</summary>
    public string Post { get; init; } = "";

    /// <summary>layer{l}.expert{j}.onnx for j = 0..m-1.</summary>
    public required IReadOnlyList<string> Experts { get; init; }

    /// <summary>layer{l}.shared.onnx, or null without a shared expert.</summary>
    public string? Shared { get; init; }
}

/// <summary>Which kind of tokenizer files a model directory has.</summary>
public enum TokenizerKind
{
    /// <summary>MoeServe's own pair (src/Text): tokenizer.tiktoken plus its tokenizer.json description (special tokens, pattern).</summary>
    Tiktoken = 0,

    /// <summary>A Hugging Face tokenizer.json (the tokenizers library's format) plus tokenizer_config.json when the source had one.</summary>
    HuggingFace = 1,
}

/// <summary>The tokenizer files, relative to the manifest.</summary>
public sealed record ManifestTokenizer
{
    /// <summary>Which kind of files these are (format 2 manifests have no kind: tiktoken).</summary>
    public TokenizerKind Kind { get; init; } = TokenizerKind.Tiktoken;

    /// <summary>Tiktoken kind: tokenizer.tiktoken, "base64(token bytes) rank" per line.</summary>
    public string Vocabulary { get; init; } = CheckpointLayout.TokenizerTiktokenFileName;

    /// <summary>Tiktoken kind: MoeServe's tokenizer.json (special tokens, pre-tokenizer pattern).</summary>
    public string Description { get; init; } = CheckpointLayout.TokenizerJsonFileName;

    /// <summary>Hugging Face kind: the tokenizer.json copied from the source.</summary>
    public string? HuggingFaceTokenizer { get; init; }

    /// <summary>Hugging Face kind: the tokenizer_config.json copied from the source (chat template, special tokens), or null.</summary>
    public string? HuggingFaceConfig { get; init; }

    /// <summary>The files of this kind.</summary>
    public IEnumerable<string> Files()
    {
        if (Kind == TokenizerKind.HuggingFace)
        {
            if (HuggingFaceTokenizer is not null)
            {
                yield return HuggingFaceTokenizer;
            }

            if (HuggingFaceConfig is not null)
            {
                yield return HuggingFaceConfig;
            }

            yield break;
        }

        yield return Vocabulary;
        yield return Description;
    }
}

/// <summary>How tokens choose experts at serving time.</summary>
public sealed record ManifestRouting
{
    /// <summary>softmax or sigmoid over the router logits.</summary>
    public ScoreFunction ScoreFunction { get; init; } = ScoreFunction.Softmax;

    /// <summary>Experts per token.</summary>
    public required int TopK { get; init; }

    /// <summary>Whether gates are divided by their sum over the chosen experts.</summary>
    public bool Renormalize { get; init; } = true;

    /// <summary>Balancing method that produced q ("bip", "lossfree", "topk", or "none" when no balancing.json existed).</summary>
    public string Method { get; init; } = "none";

    /// <summary>Per layer the vector q subtracted before top-K (TopK(s - q)); gates still come from s.</summary>
    public required IReadOnlyList<float[]> Q { get; init; }

    /// <summary>Where <see cref="Q"/> came from when it was not exported with the model (calibration); omitted from the JSON when null, as in older manifests.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ManifestQSource? QSource { get; init; }

    /// <summary>The q this one replaced (kept so <c>calibrate --restore</c> can bring it back); omitted from the JSON when null.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ManifestPreviousQ? PreviousQ { get; init; }

    /// <summary>The routing of a newly written model (export, import): score function, K and renormalisation
    /// always follow the model's config, so only the method and q vary.</summary>
    /// <param name="config">The model's configuration.</param>
    /// <param name="method">The balancing method that produced <paramref name="q"/>.</param>
    /// <param name="q">Per layer the vector q.</param>
    public static ManifestRouting For(ModelConfig config, string method, IReadOnlyList<float[]> q)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new ManifestRouting { ScoreFunction = config.ScoreFunction, TopK = config.TopK, Renormalize = config.Renormalize, Method = method, Q = q };
    }

    /// <summary>A short label of the served q: "calibration (N tokens, DATE)" or "export (METHOD)".</summary>
    public string DescribeSource() => QSource is { } source
        ? FormattableString.Invariant($"{source.Kind} ({source.Tokens} tokens of {Path.GetFileName(source.Data)}, {source.CreatedUtc:yyyy-MM-dd})")
        : $"export ({Method})";
}

/// <summary>How a calibrated q was made (the inputs of <c>calibrate</c>).</summary>
public sealed record ManifestQSource
{
    /// <summary>"calibration".</summary>
    public string Kind { get; init; } = "calibration";

    /// <summary>The calibration text file.</summary>
    public required string Data { get; init; }

    /// <summary>Tokens the model ran over.</summary>
    public long Tokens { get; init; }

    /// <summary>n, tokens per BIP batch.</summary>
    public int BatchTokens { get; init; }

    /// <summary>T, BIP iterations per batch.</summary>
    public int Iterations { get; init; }

    /// <summary>Batches averaged (QAverage window).</summary>
    public int AverageWindow { get; init; }

    /// <summary>Seed of the window order (windows drawn from the whole text), or null for text order.</summary>
    public int? ShuffleSeed { get; init; }

    /// <summary>Whether BIP started from the previous q (true) or from q = 0.</summary>
    public bool StartedFromPrevious { get; init; }

    /// <summary>UTC time of the calibration.</summary>
    public DateTimeOffset CreatedUtc { get; init; }
}

/// <summary>A replaced q with its method and source, so it can be restored exactly.</summary>
public sealed record ManifestPreviousQ
{
    /// <summary>The method that produced it.</summary>
    public string Method { get; init; } = "none";

    /// <summary>Per layer q.</summary>
    public required IReadOnlyList<float[]> Q { get; init; }

    /// <summary>Its source, or null for an exported q.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ManifestQSource? QSource { get; init; }
}

/// <summary>Facts about the export run.</summary>
public sealed record ManifestExportInfo
{
    /// <summary>UTC time of the export.</summary>
    public DateTimeOffset CreatedUtc { get; init; }

    /// <summary>The checkpoint directory exported.</summary>
    public string? Checkpoint { get; init; }

    /// <summary>The tool that wrote the model.</summary>
    public string Tool { get; init; } = "moeserve export";

    /// <summary>Import only: the source's format ("huggingface" or "gguf"), its model_type, and how routing q was set.</summary>
    public JsonObject? Import { get; init; }
}
