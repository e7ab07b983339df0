using System.Text;
using MoeServe.Model.Gguf;
using MoeServe.Model.Import;

namespace MoeServe.TestSupport;

/// <summary>
/// Tiny GGUF files for import tests: a <see cref="TinyHfCheckpoint"/> of a family converted as llama.cpp's
/// convert_hf_to_gguf.py writes it (<see cref="HfToGgufConverter"/>: metadata, stacked experts, llama q/k
/// permutation, the byte-level tokenizer with its ChatML chat template), and rewrites of such a file for refusal tests.
/// </summary>
public static class TinyGguf
{
    /// <summary>Writes the family's tiny checkpoint as <c>directory/hf</c> and converts it to <c>directory/NAME.gguf</c>.</summary>
    /// <param name="family">The family.</param>
    /// <param name="directory">Created if needed.</param>
    /// <param name="seed">Seed of the weights.</param>
    /// <param name="chatTemplate">Replaces the shipped chat template; empty writes none.</param>
    /// <returns>The GGUF path and the Hugging Face model it was converted from.</returns>
    public static (string Path, TinyHfModel Model) Write(HfFamily family, string directory, int seed, string? chatTemplate = null)
    {
        var model = TinyHfCheckpoint.Write(family, System.IO.Path.Combine(directory, "hf"), seed);
        var tokenizer = HfToGgufConverter.TokenizerFromHfDirectory(model.Directory, TinyHfCheckpoint.VocabSize);
        if (chatTemplate is not null)
        {
            tokenizer = tokenizer with { ChatTemplate = chatTemplate.Length == 0 ? null : chatTemplate };
        }

        string path = System.IO.Path.Combine(directory, $"tiny-{family.ToString().ToLowerInvariant()}.gguf");
        using var checkpoint = HfDirectoryCheckpoint.Open(model.Directory);
        HfToGgufConverter.Convert(checkpoint, tokenizer, path, name: $"tiny-{family}");
        return (path, model);
    }

    /// <summary>Copies a GGUF with metadata edited: <paramref name="edit"/> returns the value to keep (null drops the key),
    /// <paramref name="add"/> appends keys; tensors are copied byte for byte.</summary>
    /// <param name="source">The GGUF to copy.</param>
    /// <param name="destination">The file to write.</param>
    /// <param name="edit">Per key: the value to write, or null to drop it (default: keep).</param>
    /// <param name="add">Adds metadata after the kept keys.</param>
    public static void Rewrite(string source, string destination, Func<string, GgufValue, GgufValue?>? edit = null, Action<GgufWriter>? add = null)
    {
        using var file = GgufFile.Open(source);
        var writer = new GgufWriter();
        foreach (string key in file.MetadataKeys)
        {
            if ((edit is null ? file.Metadata[key] : edit(key, file.Metadata[key])) is { } value)
            {
                writer.Add(key, value);
            }
        }

        add?.Invoke(writer);
        foreach (var tensor in file.Tensors)
        {
            writer.AddTensor(tensor.Name, tensor.Dimensions, tensor.Type, file.GetBytes(tensor, 0, tensor.ElementCount).ToArray());
        }

        writer.WriteTo(destination);
    }

    /// <summary>Relabels one tensor's type in the tensor info (the data is left as it is): a file with a tensor type the
    /// reader does not know, which still opens and lists.</summary>
    /// <param name="path">The GGUF to patch in place.</param>
    /// <param name="tensorName">The tensor.</param>
    /// <param name="type">The type to write into its info.</param>
    public static void RelabelTensorType(string path, string tensorName, GgmlType type)
    {
        int dimensions;
        using (var file = GgufFile.Open(path))
        {
            dimensions = file.GetTensor(tensorName).Dimensions.Count;
        }

        byte[] bytes = File.ReadAllBytes(path);
        byte[] name = Encoding.UTF8.GetBytes(tensorName);
        // The tensor info: the name's length (u64) and bytes, n_dims (u32), ne[n_dims] (u64 each), then the type (u32).
        int at = bytes.AsSpan().IndexOf([.. BitConverter.GetBytes((ulong)name.Length), .. name]) + 8 + name.Length;
        int typeOffset = at + 4 + (8 * dimensions);
        BitConverter.GetBytes((int)type).CopyTo(bytes, typeOffset);
        File.WriteAllBytes(path, bytes);
    }
}
