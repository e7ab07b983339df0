using System.IO.Compression;
using System.Text;

namespace MoeServe.Text.Corpus;

/// <summary>
/// Ambrose Bierce's Devil's Dictionary from Debian's dict-devil (dictd format: devil.index lists each
/// headword with the offset and length of its entry in the gzip-compatible devil.dict.dz). One document
/// per entry, grouped by the headword's first letter.
/// </summary>
public sealed class DevilsDictionarySource : ICorpusSource
{
    /// <summary>Where Debian installs dictd databases.</summary>
    public const string DefaultDirectory = "/usr/share/dictd";

    private const string DictdDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    private readonly string _directory;

    /// <summary>Creates the source.</summary>
    /// <param name="directory">Directory holding devil.index and devil.dict.dz.</param>
    public DevilsDictionarySource(string directory = DefaultDirectory)
    {
        _directory = directory;
    }

    /// <inheritdoc/>
    public string Name => "devil";

    /// <inheritdoc/>
    public IReadOnlyList<string> DebianPackages { get; } = ["dict-devil"];

    private string IndexPath => Path.Combine(_directory, "devil.index");

    private string DictionaryPath => Path.Combine(_directory, "devil.dict.dz");

    /// <inheritdoc/>
    public bool IsAvailable() => File.Exists(IndexPath) && File.Exists(DictionaryPath);

    /// <inheritdoc/>
    public IEnumerable<CorpusDocument> ReadDocuments()
    {
        using var file = File.OpenRead(DictionaryPath);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        gzip.CopyTo(buffer);
        return Parse(File.ReadAllText(IndexPath), buffer.ToArray());
    }

    /// <summary>Cuts the uncompressed dictionary into entries using the index.</summary>
    /// <param name="index">devil.index: "headword TAB offset TAB length" per line, numbers in dictd base64.</param>
    /// <param name="dictionary">The uncompressed devil.dict bytes.</param>
    public static IReadOnlyList<CorpusDocument> Parse(string index, byte[] dictionary)
    {
        ArgumentNullException.ThrowIfNull(index);
        ArgumentNullException.ThrowIfNull(dictionary);
        var seen = new HashSet<long>();
        var documents = new List<CorpusDocument>();
        foreach (string line in index.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] fields = line.Split('\t');
            if (fields.Length < 3 || fields[0].StartsWith("00database", StringComparison.Ordinal) || fields[0].Length == 0)
            {
                continue;
            }

            long offset = DecodeNumber(fields[1]);
            long length = DecodeNumber(fields[2]);
            if (offset < 0 || length <= 0 || offset + length > dictionary.Length || !seen.Add(offset))
            {
                continue;
            }

            string text = Encoding.UTF8.GetString(dictionary, (int)offset, (int)length);
            string group = char.ToUpperInvariant(fields[0][0]).ToString();
            documents.Add(new CorpusDocument("devil", group, fields[0], text));
        }

        return documents;
    }

    /// <summary>dictd's base64 numbers: big-endian digits over A-Z a-z 0-9 + /; -1 for a bad digit.</summary>
    /// <param name="digits">The encoded number.</param>
    public static long DecodeNumber(string digits)
    {
        ArgumentNullException.ThrowIfNull(digits);
        long value = 0;
        foreach (char c in digits.Trim())
        {
            int digit = DictdDigits.IndexOf(c, StringComparison.Ordinal);
            if (digit < 0)
            {
                return -1;
            }

            value = (value * 64) + digit;
        }

        return value;
    }
}
