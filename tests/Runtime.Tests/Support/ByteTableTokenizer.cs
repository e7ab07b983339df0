using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace MoeServe.Runtime.Tests.Support;

/// <summary>
/// A decode-only tokenizer whose tokens are given byte strings, decoded as UTF-8 with replacement: a
/// dangling partial character becomes U+FFFD (the other tokenizer behaviour <see cref="MoeServe.Runtime.Generation.IncrementalDecoder"/>
/// handles; the models' tiktoken decodes it to nothing).
/// </summary>
public sealed class ByteTableTokenizer(params byte[][] tokens) : Tokenizer
{
    public override string Decode(IEnumerable<int> ids) => Encoding.UTF8.GetString(Bytes(ids));

    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        var list = ids.ToList();
        string text = Encoding.UTF8.GetString(Bytes(list));
        idsConsumed = list.Count;
        if (text.Length > destination.Length)
        {
            charsWritten = 0;
            return OperationStatus.DestinationTooSmall;
        }

        text.CopyTo(destination);
        charsWritten = text.Length;
        return OperationStatus.Done;
    }

    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
        => throw new NotSupportedException("Decode only.");

    private byte[] Bytes(IEnumerable<int> ids) => [.. ids.SelectMany(id => tokens[id])];
}
