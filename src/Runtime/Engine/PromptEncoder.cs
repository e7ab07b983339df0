using Microsoft.ML.Tokenizers;
using MoeServe.Model;
using MoeServe.Text.HuggingFace;

namespace MoeServe.Runtime;

/// <summary>
/// A model directory's tokenizer as the model sees it: the tokenizer its manifest names (loaded by
/// <see cref="ModelTokenizerLoader"/>) plus the manifest's BOS rule. <see cref="MoeEngine.EncodePrompt"/>
/// and <c>tokenizer encode --from MODEL_DIR</c> both go through it, so the ids a user inspects are the
/// ids the server feeds the model; <see cref="Load"/> opens no ONNX session, which keeps inspection cheap.
/// </summary>
public sealed class PromptEncoder
{
    private readonly ModelManifest _manifest;
    private readonly Lazy<Func<int, string?>> _pieces;

    /// <summary>Wraps an already loaded tokenizer.</summary>
    /// <param name="tokenizer">The tokenizer the manifest names.</param>
    /// <param name="manifest">The model's manifest (BOS id and rule, special tokens, vocabulary size).</param>
    public PromptEncoder(Tokenizer tokenizer, ModelManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(manifest);
        Tokenizer = tokenizer;
        _manifest = manifest;
        _pieces = new Lazy<Func<int, string?>>(() => PieceLookup(tokenizer));
    }

    /// <summary>Reads and checks <paramref name="modelDirectory"/>/manifest.json and loads the tokenizer it names, as the runtime does.</summary>
    /// <param name="modelDirectory">A MoeServe model directory.</param>
    /// <exception cref="FileNotFoundException">No manifest.json.</exception>
    /// <exception cref="InvalidDataException">The manifest or the tokenizer files are invalid; the message lists every problem.</exception>
    public static PromptEncoder Load(string modelDirectory)
    {
        var manifest = ModelManifest.Load(modelDirectory);
        return new PromptEncoder(ModelTokenizerLoader.Load(modelDirectory, manifest), manifest);
    }

    /// <summary>The underlying Microsoft.ML.Tokenizers tokenizer.</summary>
    public Tokenizer Tokenizer { get; }

    /// <summary>Logits per token: ids at or above it are outside the model's vocabulary.</summary>
    public int VocabSize => _manifest.Config.VocabSize;

    /// <summary>Whether the model asks for a BOS id in front of every prompt.</summary>
    public bool AddsBos => _manifest.AddBos && _manifest.BosId >= 0;

    /// <summary>
    /// The ids of <paramref name="text"/>; with <paramref name="addSpecialTokens"/> the manifest's BOS id goes in
    /// front when the model asks for one and the text does not already start with it (a template that writes bos_token).
    /// </summary>
    /// <param name="text">The text.</param>
    /// <param name="addSpecialTokens">Add BOS as the model asks (false: the tokenizer's ids only).</param>
    /// <param name="maxTokens">
    /// Stop after this many tokenizer ids: a caller that only needs to know a prompt is longer than the context
    /// does not pay for encoding a megabyte of text (the tokenizer stops early where it can).
    /// </param>
    public int[] Encode(string text, bool addSpecialTokens = true, int maxTokens = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxTokens);
        var ids = maxTokens == int.MaxValue ? Tokenizer.EncodeToIds(text) : Tokenizer.EncodeToIds(text, maxTokens, out _, out _);
        bool bos = addSpecialTokens && AddsBos && (ids.Count == 0 || ids[0] != _manifest.BosId);
        return bos ? [_manifest.BosId, .. ids] : [.. ids];
    }

    /// <summary>The text of <paramref name="ids"/>, special tokens included unless <paramref name="skipSpecialTokens"/>.</summary>
    /// <param name="ids">Token ids, each in [0, <see cref="VocabSize"/>).</param>
    /// <param name="skipSpecialTokens">Leave out the manifest's special tokens, BOS and end-of-sequence ids.</param>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (skipSpecialTokens)
        {
            var special = SpecialIds();
            ids = ids.Where(id => !special.Contains(id));
        }

        return Tokenizer.Decode(ids) ?? "";
    }

    /// <summary>
    /// One token as a string: its vocabulary entry when the tokenizer has one (a byte-level BPE's as Hugging Face's
    /// convert_ids_to_tokens gives it, e.g. "Ġthe"; a SentencePiece's "▁the"), otherwise the token decoded on its own
    /// (a tiktoken byte that is part of a multi-byte character decodes to U+FFFD).
    /// </summary>
    /// <param name="id">A token id.</param>
    public string TokenText(int id) => _pieces.Value(id) ?? Tokenizer.Decode([id]) ?? "";

    // Microsoft.ML.Tokenizers' BPE and SentencePiece tokenizers map tokens to ids only: reversed once, on first use.
    private static Func<int, string?> PieceLookup(Tokenizer tokenizer) => tokenizer switch
    {
        HuggingFaceBpeTokenizer huggingFace => huggingFace.IdToToken,
        BpeTokenizer bpe => Reverse(bpe.Vocabulary, bpe.SpecialTokens).GetValueOrDefault,
        SentencePieceTokenizer sentencePiece => Reverse(sentencePiece.Vocabulary, sentencePiece.SpecialTokens).GetValueOrDefault,
        _ => _ => null,
    };

    private static Dictionary<int, string> Reverse(IReadOnlyDictionary<string, int> vocabulary, IReadOnlyDictionary<string, int>? special)
    {
        var pieces = new Dictionary<int, string>(vocabulary.Count);
        foreach (var (token, id) in vocabulary)
        {
            pieces.TryAdd(id, token);
        }

        foreach (var (token, id) in special ?? new Dictionary<string, int>())
        {
            pieces[id] = token;
        }

        return pieces;
    }

    private HashSet<int> SpecialIds()
    {
        var special = new HashSet<int>(_manifest.SpecialTokens.Values) { _manifest.EndOfTextId, _manifest.BosId };
        special.UnionWith(_manifest.EndOfSequenceIds);
        special.Remove(-1);
        return special;
    }
}
