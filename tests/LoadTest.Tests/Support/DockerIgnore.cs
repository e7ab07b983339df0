using System.Text.RegularExpressions;

namespace MoeServe.LoadTest.Tests.Support;

/// <summary>
/// The .dockerignore rules as Docker applies them: patterns match a path or any of its parent
/// directories, "**" spans directories, "!" re-includes, and the last matching rule wins.
/// </summary>
internal sealed class DockerIgnore
{
    private readonly List<(Regex Pattern, bool Exclude)> _rules = [];

    public DockerIgnore(string text)
    {
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var exclude = !line.StartsWith('!');
            var pattern = (exclude ? line : line[1..]).Trim().Trim('/');
            _rules.Add((ToRegex(pattern), exclude));
        }
    }

    /// <summary>True when the repository-relative path is left out of the build context.</summary>
    public bool Excludes(string path)
    {
        var candidates = Prefixes(path.Trim('/')).ToList();
        var excluded = false;
        foreach (var (pattern, exclude) in _rules)
        {
            if (candidates.Any(c => pattern.IsMatch(c)))
            {
                excluded = exclude;
            }
        }

        return excluded;
    }

    private static IEnumerable<string> Prefixes(string path)
    {
        var parts = path.Split('/');
        for (var i = 1; i <= parts.Length; i++)
        {
            yield return string.Join('/', parts[..i]);
        }
    }

    private static Regex ToRegex(string pattern)
    {
        var body = Regex.Escape(pattern)
            .Replace(@"\*\*/", "(.*/)?", StringComparison.Ordinal)
            .Replace(@"/\*\*", "(/.*)?", StringComparison.Ordinal)
            .Replace(@"\*\*", ".*", StringComparison.Ordinal)
            .Replace(@"\*", "[^/]*", StringComparison.Ordinal)
            .Replace(@"\?", "[^/]", StringComparison.Ordinal);
        return new Regex($"^{body}$", RegexOptions.CultureInvariant);
    }
}
