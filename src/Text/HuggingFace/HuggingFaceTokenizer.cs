using Microsoft.ML.Tokenizers;

namespace MoeServe.Text.HuggingFace;

/// <summary>
/// A checkpoint's tokenizer plus the facts the server needs: special and added tokens, BOS/EOS ids
/// and whether BOS/EOS are added. Built by <see cref="HuggingFaceTokenizerLoader"/> (tokenizer.json,
/// tokenizer.model) or from GGUF metadata via <see cref="GgufTokenizerConverter"/>.
/// </summary>
public sealed class HuggingFaceTokenizer
{
    private readonly Func<int, string?> _idToToken;
    private readonly Func<IEnumerable<int>, bool, string> _decode;

    internal HuggingFaceTokenizer(
        Tokenizer tokenizer,
        TokenizerKind kind,
        IReadOnlyDictionary<string, int> addedTokens,
        IReadOnlyDictionary<string, int> specialTokens,
        Func<int, string?> idToToken,
        Func<IEnumerable<int>, bool, string> decode)
    {
        Tokenizer = tokenizer;
        Kind = kind;
        AddedTokens = addedTokens;
        SpecialTokens = specialTokens;
        _idToToken = idToToken;
        _decode = decode;
    }

    /// <summary>The Microsoft.ML.Tokenizers tokenizer; its EncodeToIds gives the text's tokens without BOS/EOS.</summary>
    public Tokenizer Tokenizer { get; }

    /// <summary>What kind of tokenizer this is.</summary>
    public TokenizerKind Kind { get; }

    /// <summary>Every added token (special or not): content to id. Such text inside the input encodes to that one id.</summary>
    public IReadOnlyDictionary<string, int> AddedTokens { get; }

    /// <summary>The special (control) tokens among <see cref="AddedTokens"/>: content to id.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens { get; }

    /// <summary>Beginning-of-sequence id, when the files name one.</summary>
    public int? BosId { get; internal init; }

    /// <summary>End-of-sequence id (tokenizer_config's eos_token, else config.json's first eos_token_id).</summary>
    public int? EosId { get; internal init; }

    /// <summary>Every id that ends generation: <see cref="EosId"/> plus config.json's and generation_config.json's eos_token_id lists.</summary>
    public IReadOnlyList<int> EndOfGenerationIds { get; internal init; } = [];

    /// <summary>Padding id, when named.</summary>
    public int? PadId { get; internal init; }

    /// <summary>Unknown-token id, when the model has one.</summary>
    public int? UnkId { get; internal init; }

    /// <summary>Whether <see cref="Encode"/> with special tokens prepends <see cref="BosId"/>.</summary>
    public bool AddBos { get; internal init; }

    /// <summary>Whether <see cref="Encode"/> with special tokens appends <see cref="EosId"/>.</summary>
    public bool AddEos { get; internal init; }

    /// <summary>Encodes text; added/special tokens written in the text become their ids.</summary>
    /// <param name="text">The text.</param>
    /// <param name="addSpecialTokens">Prepend BOS / append EOS as <see cref="AddBos"/>/<see cref="AddEos"/> say.</param>
    /// <returns>Token ids.</returns>
    public IReadOnlyList<int> Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 2);
        if (addSpecialTokens && AddBos && BosId is int bos)
        {
            ids.Add(bos);
        }

        ids.AddRange(Tokenizer.EncodeToIds(text, considerPreTokenization: true, considerNormalization: true));
        if (addSpecialTokens && AddEos && EosId is int eos)
        {
            ids.Add(eos);
        }

        return ids;
    }

    /// <summary>Decodes ids to text.</summary>
    /// <param name="ids">Token ids.</param>
    /// <param name="skipSpecialTokens">Leave out special tokens.</param>
    /// <returns>The text.</returns>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false) => _decode(ids, skipSpecialTokens);

    /// <summary>The stored text of a token (byte-level characters for byte-level models), or null.</summary>
    /// <param name="id">Token id.</param>
    /// <returns>The token text or null.</returns>
    public string? IdToToken(int id) => _idToToken(id);
}

/// <summary>The kinds of tokenizer the loader produces.</summary>
public enum TokenizerKind
{
    /// <summary>GPT-2 style byte-level BPE (Qwen2/Qwen3, OLMoE, GPT-NeoX) from tokenizer.json.</summary>
    ByteLevelBpe,

    /// <summary>SentencePiece-style BPE in tokenizer.json (Llama 2, Mixtral): ▁ for spaces, byte fallback.</summary>
    SentencePieceBpe,

    /// <summary>A SentencePiece tokenizer.model (protobuf), through Microsoft.ML.Tokenizers' LlamaTokenizer.</summary>
    SentencePieceModel,
}
