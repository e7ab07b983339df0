using System.Text.RegularExpressions;

namespace MoeServe.LoadTest.Tests.Support;

/// <summary>A Dockerfile read into stages and instructions (continuation lines joined, comments dropped).</summary>
internal sealed partial class DockerfileModel
{
    public sealed record Instruction(string Keyword, string Arguments);

    public sealed record Stage(string Base, string Name, IReadOnlyList<Instruction> Instructions)
    {
        public IEnumerable<string> Arguments(string keyword) =>
            Instructions.Where(i => i.Keyword == keyword).Select(i => i.Arguments);
    }

    public DockerfileModel(string text)
    {
        var joined = ContinuedLine().Replace(text, " ");
        var globalArgs = new List<Instruction>();
        var stages = new List<(string Base, string Name, List<Instruction> Items)>();
        foreach (var raw in joined.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var space = line.IndexOf(' ', StringComparison.Ordinal);
            var keyword = (space < 0 ? line : line[..space]).ToUpperInvariant();
            var arguments = space < 0 ? "" : line[(space + 1)..].Trim();
            if (keyword == "FROM")
            {
                var m = FromLine().Match(arguments);
                stages.Add((m.Groups["base"].Value, m.Groups["name"].Success ? m.Groups["name"].Value : "", []));
            }
            else if (stages.Count == 0)
            {
                globalArgs.Add(new Instruction(keyword, arguments));
            }
            else
            {
                stages[^1].Items.Add(new Instruction(keyword, arguments));
            }
        }

        GlobalArgs = globalArgs.Where(i => i.Keyword == "ARG").Select(i => i.Arguments.Split('=', 2))
            .ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "", StringComparer.Ordinal);
        Stages = stages.Select(s => new Stage(s.Base, s.Name, s.Items)).ToList();
    }

    /// <summary>ARGs declared before the first FROM, with their defaults.</summary>
    public IReadOnlyDictionary<string, string> GlobalArgs { get; }

    public IReadOnlyList<Stage> Stages { get; }

    public Stage this[string name] => Stages.Single(s => s.Name == name);

    /// <summary>Sources of COPY instructions that read the build context (not --from=stage), with their destination.</summary>
    public static IEnumerable<(IReadOnlyList<string> Sources, string Destination)> ContextCopies(Stage stage)
    {
        foreach (var copy in stage.Arguments("COPY"))
        {
            var words = copy.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Any(w => w.StartsWith("--from=", StringComparison.Ordinal)))
            {
                continue;
            }

            var paths = words.Where(w => !w.StartsWith("--", StringComparison.Ordinal)).ToList();
            yield return (paths[..^1], paths[^1]);
        }
    }

    /// <summary>ENV instructions of a stage as name/value pairs (the NAME=VALUE form).</summary>
    public static IReadOnlyDictionary<string, string> Environment(Stage stage) =>
        stage.Arguments("ENV").SelectMany(e => EnvPair().Matches(e)).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);

    [GeneratedRegex(@"\\\r?\n")]
    private static partial Regex ContinuedLine();

    [GeneratedRegex(@"^(--\S+\s+)*(?<base>\S+)(\s+AS\s+(?<name>\S+))?$", RegexOptions.IgnoreCase)]
    private static partial Regex FromLine();

    [GeneratedRegex(@"(\w+)=(\S+)")]
    private static partial Regex EnvPair();
}
