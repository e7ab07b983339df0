using System.Text;

namespace MoeServe.Model.Gguf;

/// <summary>
/// GPT-2's byte-to-character table: every byte 0..255 maps to one printable character
/// (printable Latin-1 bytes map to themselves, the rest to U+0100 upwards), so a byte-level BPE
/// vocabulary is a set of ordinary strings ("Ġ" is the space byte).
/// </summary>
public static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = Build();
    private static readonly Dictionary<char, byte> CharToByte = ByteToChar.Select((c, b) => (c, b)).ToDictionary(p => p.c, p => (byte)p.b);

    /// <summary>The character that stands for <paramref name="value"/>.</summary>
    /// <param name="value">A byte.</param>
    /// <returns>Its byte-level character.</returns>
    public static char ToChar(byte value) => ByteToChar[value];

    /// <summary>Maps text to its UTF-8 bytes written as byte-level characters.</summary>
    /// <param name="text">Any text.</param>
    /// <returns>One character per UTF-8 byte.</returns>
    public static string Encode(ReadOnlySpan<char> text)
    {
        int count = Encoding.UTF8.GetByteCount(text);
        byte[] bytes = new byte[count];
        Encoding.UTF8.GetBytes(text, bytes);
        return string.Create(count, bytes, static (span, b) =>
        {
            for (int i = 0; i < b.Length; i++)
            {
                span[i] = ByteToChar[b[i]];
            }
        });
    }

    /// <summary>Maps a byte-level token back to its bytes; false when a character is not in the alphabet.</summary>
    /// <param name="token">A byte-level token.</param>
    /// <param name="output">Receives the bytes.</param>
    /// <returns>Whether every character was a byte-level character.</returns>
    public static bool TryDecode(string token, List<byte> output)
    {
        ArgumentNullException.ThrowIfNull(token);
        ArgumentNullException.ThrowIfNull(output);
        foreach (char c in token)
        {
            if (!CharToByte.TryGetValue(c, out byte b))
            {
                return false;
            }

            output.Add(b);
        }

        return true;
    }

    private static char[] Build()
    {
        var table = new char[256];
        var direct = new bool[256];
        for (int b = '!'; b <= '~'; b++)
        {
            direct[b] = true;
        }

        for (int b = 0xA1; b <= 0xAC; b++)
        {
            direct[b] = true;
        }

        for (int b = 0xAE; b <= 0xFF; b++)
        {
            direct[b] = true;
        }

        int next = 0;
        for (int b = 0; b < 256; b++)
        {
            table[b] = direct[b] ? (char)b : (char)(256 + next++);
        }

        return table;
    }
}
