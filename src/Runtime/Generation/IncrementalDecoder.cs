using System.Buffers;
using Microsoft.ML.Tokenizers;

namespace MoeServe.Runtime.Generation;

/// <summary>
/// Turns generated token ids into text piece by piece. A byte-level BPE token can end in the middle of
/// a UTF-8 character; the tokenizer decodes such a tail to nothing (tiktoken) or to U+FFFD, and either
/// way it is held back until the next token completes it.
/// </summary>
public sealed class IncrementalDecoder : IDisposable
{
    private readonly Tokenizer _tokenizer;
    private int[] _ids;
    private char[] _chars;
    private int _count;
    private int _emitted;

    /// <summary>Creates a decoder.</summary>
    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="capacity">Expected number of tokens (grows if exceeded).</param>
    public IncrementalDecoder(Tokenizer tokenizer, int capacity = 256)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        _ids = ArrayPool<int>.Shared.Rent(Math.Max(16, capacity));
        _chars = ArrayPool<char>.Shared.Rent(Math.Max(64, capacity * 8));
    }

    /// <summary>Tokens added so far.</summary>
    public int Count => _count;

    /// <summary>The token ids added so far.</summary>
    public ReadOnlySpan<int> Ids => _ids.AsSpan(0, _count);

    /// <summary>Adds one token; returns the new text it completes (often empty for a partial character).</summary>
    /// <param name="tokenId">The generated token.</param>
    public string Append(int tokenId)
    {
        if (_count == _ids.Length)
        {
            Grow(ref _ids, _count * 2);
        }

        _ids[_count++] = tokenId;
        int written = DecodeAll();
        if (written > 0 && _chars[written - 1] == '\uFFFD')
        {
            return string.Empty;
        }

        return TakeNew(written);
    }

    /// <summary>Whatever is not yet returned (a trailing partial character is dropped or becomes U+FFFD, as the tokenizer decodes it).</summary>
    public string Flush() => TakeNew(DecodeAll());

    // The decoded text past what was already returned, now marked as returned.
    private string TakeNew(int written)
    {
        if (written <= _emitted)
        {
            return string.Empty;
        }

        string piece = new(_chars, _emitted, written - _emitted);
        _emitted = written;
        return piece;
    }

    /// <summary>Returns the pooled buffers.</summary>
    public void Dispose()
    {
        ArrayPool<int>.Shared.Return(_ids);
        ArrayPool<char>.Shared.Return(_chars);
        _ids = [];
        _chars = [];
    }

    private static void Grow<T>(ref T[] buffer, int size)
    {
        var bigger = ArrayPool<T>.Shared.Rent(size);
        buffer.AsSpan().CopyTo(bigger);
        ArrayPool<T>.Shared.Return(buffer);
        buffer = bigger;
    }

    private int DecodeAll()
    {
        while (true)
        {
            var ids = new ArraySegment<int>(_ids, 0, _count);
            var status = _tokenizer.Decode(ids, _chars, out _, out int written);
            if (status == OperationStatus.InvalidData)
            {
                // Invalid UTF-8 inside the sequence (not just a partial character at its end): the span
                // overload stops there, the string overload replaces it with U+FFFD and goes on.
                string text = _tokenizer.Decode(ids);
                if (text.Length > _chars.Length)
                {
                    Grow(ref _chars, text.Length);
                }

                text.CopyTo(_chars);
                return text.Length;
            }

            if (status != OperationStatus.DestinationTooSmall)
            {
                return written;
            }

            Grow(ref _chars, _chars.Length * 2);
        }
    }
}
