using System.Text;

namespace MoeServe.Text.Corpus;

/// <summary>
/// Chooses which groups (whole books, whole fortune files) go to validation. Within each source the
/// groups are put in a seeded pseudo-random order (FNV-1a of seed and name: stable across runs and
/// machines); a group is held out when it brings the held-out share closer to the target without
/// passing 1.5 times it, until the target is reached. A source with one group stays in training.
/// </summary>
public sealed class CorpusSplitter
{
    private readonly double _fraction;
    private readonly int _seed;

    /// <summary>Creates a splitter.</summary>
    /// <param name="validationFraction">Target held-out share of each source's bytes.</param>
    /// <param name="seed">Seed of the group order.</param>
    public CorpusSplitter(double validationFraction, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(validationFraction);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(validationFraction, 0.5);
        _fraction = validationFraction;
        _seed = seed;
    }

    /// <summary>The held-out groups of each source, as "source/group" keys.</summary>
    /// <param name="documents">Documents with their normalised UTF-8 sizes.</param>
    public IReadOnlySet<string> ChooseValidationGroups(IEnumerable<(CorpusDocument Document, long Bytes)> documents)
    {
        ArgumentNullException.ThrowIfNull(documents);
        var held = new HashSet<string>(StringComparer.Ordinal);
        foreach (var source in documents.GroupBy(d => d.Document.Source))
        {
            var groups = source
                .GroupBy(d => d.Document.Group)
                .Select(g => (Name: g.Key, Bytes: g.Sum(d => d.Bytes)))
                .OrderBy(g => Hash($"{_seed}:{source.Key}/{g.Name}"))
                .ThenBy(g => g.Name, StringComparer.Ordinal)
                .ToList();
            if (groups.Count < 2)
            {
                continue;
            }

            double target = _fraction * groups.Sum(g => g.Bytes);
            long taken = 0;
            int count = 0;
            foreach (var (name, bytes) in groups)
            {
                if (taken >= target || count == groups.Count - 1)
                {
                    break;
                }

                if (taken + bytes <= 1.5 * target)
                {
                    held.Add(Key(source.Key, name));
                    taken += bytes;
                    count++;
                }
            }
        }

        return held;
    }

    /// <summary>The key of a group in <see cref="ChooseValidationGroups"/>'s result.</summary>
    /// <param name="source">Source name.</param>
    /// <param name="group">Group name.</param>
    public static string Key(string source, string group) => source + "/" + group;

    private static ulong Hash(string text)
    {
        ulong hash = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(text))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }
}
