using System.Text.RegularExpressions;

namespace MoeServe.LoadTest.Tests.Support;

/// <summary>The option names the server binds (properties of src/Server/Options/ServerOptions.cs), read from its source.</summary>
internal static partial class ServerOptionNames
{
    public const string SourcePath = "src/Server/Options/ServerOptions.cs";

    /// <summary>Property names of the ServerOptions record.</summary>
    public static IReadOnlySet<string> All { get; } = Property().Matches(RepositoryPaths.Read(SourcePath)).Select(m => m.Groups[1].Value).ToHashSet();

    /// <summary>True when an environment variable MoeServe__Name (or MoeServe__Name__0 for lists) names a server option.</summary>
    public static bool IsOption(string environmentVariable)
    {
        var parts = environmentVariable.Split("__");
        return parts.Length >= 2 && parts[0] == "MoeServe" && All.Contains(parts[1]);
    }

    [GeneratedRegex(@"public\s+[\w<>\[\]?, ]+\s+(\w+)\s*\{\s*get;\s*init;", RegexOptions.Multiline)]
    private static partial Regex Property();
}
