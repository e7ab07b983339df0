using System.Text;
using MoeServe.Model.Gguf;
using MoeServe.Text.Tokenization;

namespace MoeServe.Peer;

/// <summary>
/// MoeServe's byte-level BPE vocabulary (tokenizer.tiktoken + tokenizer.json) as the <c>gpt2</c>
/// tokenizer llama.cpp reads from a GGUF: each token's bytes in GPT-2's byte-to-unicode alphabet,
/// the merges recovered from the ranks the way tiktoken-to-Hugging-Face converters do it (a token's
/// merge is the last step of BPE on its bytes using only lower ranks), special tokens as control
/// tokens and ids past the vocabulary (a model's embedding may be larger) as unused [PAD{i}] tokens.
/// </summary>
public static class Gpt2Vocabulary
{
    private const int NormalType = 1;
    private const int ControlType = 3;
    private const int UnusedType = 5;

    /// <summary>The tokenizer metadata for a model of <paramref name="vocabSize"/> tokens.</summary>
    /// <param name="vocabulary">The model's vocabulary.</param>
    /// <param name="vocabSize">The model's embedding rows (at least the vocabulary's size).</param>
    public static GgufTokenizerMetadata Create(BpeVocabulary vocabulary, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        if (vocabSize < vocabulary.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, $"The model has fewer rows than the vocabulary's {vocabulary.Count} tokens.");
        }

        var tokens = new string[vocabSize];
        var types = new int[vocabSize];
        var ranks = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 0; id < vocabulary.TokenBytes.Count; id++)
        {
            tokens[id] = ToUnicode(vocabulary.TokenBytes[id]);
            types[id] = NormalType;
            ranks[tokens[id]] = id;
        }

        foreach (var (text, id) in vocabulary.SpecialTokens)
        {
            tokens[id] = text;
            types[id] = ControlType;
        }

        for (int id = 0; id < vocabSize; id++)
        {
            if (tokens[id] is null)
            {
                tokens[id] = $"[PAD{id}]";
                types[id] = UnusedType;
            }
        }

        var merges = new List<string>();
        for (int id = 0; id < vocabulary.TokenBytes.Count; id++)
        {
            if (vocabulary.TokenBytes[id].Length > 1)
            {
                var (left, right) = LastMerge(vocabulary.TokenBytes[id], id, ranks);
                merges.Add(left + " " + right);
            }
        }

        int endOfText = vocabulary.SpecialTokens.TryGetValue(MoeServe.Text.SpecialTokens.EndOfText, out int eot) ? eot : -1;
        return new GgufTokenizerMetadata
        {
            Model = "gpt2",
            Pre = "gpt-2",
            Tokens = tokens,
            TokenTypes = types,
            Merges = merges,
            BosTokenId = endOfText >= 0 ? endOfText : null,
            EosTokenId = endOfText >= 0 ? endOfText : null,
            AddBosToken = false,
        };
    }

    /// <summary>GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others map to 256 + n in order.</summary>
    /// <param name="bytes">A token's bytes.</param>
    public static string ToUnicode(ReadOnlySpan<byte> bytes)
    {
        var builder = new StringBuilder(bytes.Length);
        foreach (byte b in bytes)
        {
            builder.Append(ByteLevelAlphabet.ToChar(b));
        }

        return builder.ToString();
    }

    // BPE of the token's bytes with merges of rank below its own: what remains is the pair its own merge joins.
    private static (string Left, string Right) LastMerge(byte[] token, int rank, Dictionary<string, int> ranks)
    {
        var parts = token.Select(b => ByteLevelAlphabet.ToChar(b).ToString()).ToList();
        while (parts.Count > 2)
        {
            int best = -1;
            int bestRank = int.MaxValue;
            for (int i = 0; i + 1 < parts.Count; i++)
            {
                if (ranks.TryGetValue(parts[i] + parts[i + 1], out int r) && r < bestRank && r < rank)
                {
                    best = i;
                    bestRank = r;
                }
            }

            if (best < 0)
            {
                break;
            }

            parts[best] += parts[best + 1];
            parts.RemoveAt(best + 1);
        }

        if (parts.Count != 2)
        {
            throw new InvalidDataException($"Token {rank} ({Convert.ToBase64String(token)}) is not one merge of two lower-ranked tokens.");
        }

        return (parts[0], parts[1]);
    }
}
