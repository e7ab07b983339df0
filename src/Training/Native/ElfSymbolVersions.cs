using System.Buffers.Binary;
using System.Text;

namespace MoeServe.Training.Native;

/// <summary>One version a shared object needs from a library (an Elf64_Vernaux entry of .gnu.version_r).</summary>
/// <param name="File">The library the version is needed from (e.g. libstdc++.so.6).</param>
/// <param name="Name">The version name (e.g. GLIBCXX_3.4.32).</param>
/// <param name="Flags">vna_flags; bit 0x2 (VER_FLG_WEAK) makes the dynamic loader tolerate its absence.</param>
/// <param name="FlagsOffset">Byte offset of vna_flags in the file, for patching.</param>
public sealed record ElfVersionNeed(string File, string Name, ushort Flags, long FlagsOffset)
{
    /// <summary>VER_FLG_WEAK: a missing version is a warning for the loader, not an error.</summary>
    public const ushort WeakFlag = 0x2;

    /// <summary>Whether the need is already marked weak.</summary>
    public bool IsWeak => (Flags & WeakFlag) != 0;
}

/// <summary>
/// Reads the GNU symbol-versioning sections of a 64-bit little-endian ELF file: the versions it
/// defines (.gnu.version_d, e.g. what libstdc++ provides) and the versions it needs from other
/// libraries (.gnu.version_r). Only what the TorchSharp load fix needs; no relocation parsing.
/// </summary>
public sealed class ElfSymbolVersions
{
    private const uint ShtGnuVerdef = 0x6ffffffd;
    private const uint ShtGnuVerneed = 0x6ffffffe;

    private ElfSymbolVersions(IReadOnlyList<string> definitions, IReadOnlyList<ElfVersionNeed> needs)
    {
        Definitions = definitions;
        Needs = needs;
    }

    /// <summary>Version names the file defines (provides).</summary>
    public IReadOnlyList<string> Definitions { get; }

    /// <summary>Versions the file needs from other libraries.</summary>
    public IReadOnlyList<ElfVersionNeed> Needs { get; }

    /// <summary>Reads the version sections of an ELF file.</summary>
    /// <param name="path">The file (symlinks are followed).</param>
    public static ElfSymbolVersions Read(string path) => Parse(File.ReadAllBytes(path), path);

    /// <summary>Parses the version sections from an ELF image in memory.</summary>
    /// <param name="image">The whole file.</param>
    /// <param name="source">Name used in error messages.</param>
    public static ElfSymbolVersions Parse(ReadOnlySpan<byte> image, string source = "ELF image")
    {
        if (image.Length < 64 || image[0] != 0x7f || image[1] != (byte)'E' || image[2] != (byte)'L' || image[3] != (byte)'F')
        {
            throw new InvalidDataException($"{source} is not an ELF file.");
        }

        if (image[4] != 2 || image[5] != 1)
        {
            throw new InvalidDataException($"{source} is not a 64-bit little-endian ELF file.");
        }

        long sectionHeaders = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(image[0x28..]));
        int entrySize = BinaryPrimitives.ReadUInt16LittleEndian(image[0x3A..]);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(image[0x3C..]);
        if (entrySize < 64 || sectionHeaders + ((long)entrySize * count) > image.Length)
        {
            throw new InvalidDataException($"{source} has a truncated section header table.");
        }

        var sections = new (uint Type, long Offset, long Size, int Link, int Info)[count];
        for (int i = 0; i < count; i++)
        {
            var header = image.Slice((int)(sectionHeaders + ((long)i * entrySize)), entrySize);
            sections[i] = (
                BinaryPrimitives.ReadUInt32LittleEndian(header[4..]),
                checked((long)BinaryPrimitives.ReadUInt64LittleEndian(header[0x18..])),
                checked((long)BinaryPrimitives.ReadUInt64LittleEndian(header[0x20..])),
                (int)BinaryPrimitives.ReadUInt32LittleEndian(header[0x28..]),
                (int)BinaryPrimitives.ReadUInt32LittleEndian(header[0x2C..]));
        }

        var definitions = new List<string>();
        var needs = new List<ElfVersionNeed>();
        foreach (var section in sections)
        {
            if (section.Type != ShtGnuVerdef && section.Type != ShtGnuVerneed)
            {
                continue;
            }

            if (section.Link < 0 || section.Link >= count)
            {
                throw new InvalidDataException($"{source}: version section links to a missing string table.");
            }

            var strings = sections[section.Link];
            var stringTable = Slice(image, strings.Offset, strings.Size, source);
            if (section.Type == ShtGnuVerdef)
            {
                ReadDefinitions(image, section.Offset, section.Info, stringTable, definitions, source);
            }
            else
            {
                ReadNeeds(image, section.Offset, section.Info, stringTable, needs, source);
            }
        }

        return new ElfSymbolVersions(definitions, needs);
    }

    private static void ReadDefinitions(ReadOnlySpan<byte> image, long offset, int entries, ReadOnlySpan<byte> strings, List<string> names, string source)
    {
        long at = offset;
        for (int i = 0; i < entries; i++)
        {
            var verdef = Slice(image, at, 20, source);
            int auxCount = BinaryPrimitives.ReadUInt16LittleEndian(verdef[6..]);
            uint aux = BinaryPrimitives.ReadUInt32LittleEndian(verdef[12..]);
            uint next = BinaryPrimitives.ReadUInt32LittleEndian(verdef[16..]);
            if (auxCount > 0)
            {
                // The first Verdaux names the version itself; later ones name its parents.
                var verdaux = Slice(image, at + aux, 8, source);
                names.Add(ReadString(strings, BinaryPrimitives.ReadUInt32LittleEndian(verdaux), source));
            }

            if (next == 0)
            {
                break;
            }

            at += next;
        }
    }

    private static void ReadNeeds(ReadOnlySpan<byte> image, long offset, int entries, ReadOnlySpan<byte> strings, List<ElfVersionNeed> needs, string source)
    {
        long at = offset;
        for (int i = 0; i < entries; i++)
        {
            var verneed = Slice(image, at, 16, source);
            int auxCount = BinaryPrimitives.ReadUInt16LittleEndian(verneed[2..]);
            string file = ReadString(strings, BinaryPrimitives.ReadUInt32LittleEndian(verneed[4..]), source);
            uint aux = BinaryPrimitives.ReadUInt32LittleEndian(verneed[8..]);
            uint next = BinaryPrimitives.ReadUInt32LittleEndian(verneed[12..]);
            long auxAt = at + aux;
            for (int j = 0; j < auxCount; j++)
            {
                var vernaux = Slice(image, auxAt, 16, source);
                ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(vernaux[4..]);
                string name = ReadString(strings, BinaryPrimitives.ReadUInt32LittleEndian(vernaux[8..]), source);
                needs.Add(new ElfVersionNeed(file, name, flags, auxAt + 4));
                uint auxNext = BinaryPrimitives.ReadUInt32LittleEndian(vernaux[12..]);
                if (auxNext == 0)
                {
                    break;
                }

                auxAt += auxNext;
            }

            if (next == 0)
            {
                break;
            }

            at += next;
        }
    }

    private static ReadOnlySpan<byte> Slice(ReadOnlySpan<byte> image, long offset, long length, string source)
    {
        if (offset < 0 || length < 0 || offset + length > image.Length)
        {
            throw new InvalidDataException($"{source}: a version section points outside the file.");
        }

        return image.Slice((int)offset, (int)length);
    }

    private static string ReadString(ReadOnlySpan<byte> table, uint offset, string source)
    {
        if (offset >= table.Length)
        {
            throw new InvalidDataException($"{source}: a version name points outside its string table.");
        }

        var rest = table[(int)offset..];
        int end = rest.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? rest : rest[..end]);
    }
}
