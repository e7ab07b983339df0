namespace MoeServe.LoadTest.Tests.Support;

/// <summary>Finds files of the repository the tests were built from.</summary>
internal static class RepositoryPaths
{
    /// <summary>The directory holding MoeServe.sln, found by walking up from the test binaries.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>A path under the repository root, given with forward slashes.</summary>
    public static string Of(string relative) => Path.Combine(Root, relative.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>The file's text.</summary>
    public static string Read(string relative) => File.ReadAllText(Of(relative));

    /// <summary>Repository-relative paths (forward slashes) of files under a folder matching a pattern.</summary>
    public static IReadOnlyList<string> Files(string folder, string pattern, bool recursive = true) =>
        Directory.EnumerateFiles(Of(folder), pattern, recursive ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly)
            .Select(f => Path.GetRelativePath(Root, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(f => !f.Contains("/node_modules/", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MoeServe.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"MoeServe.sln not found above {AppContext.BaseDirectory}");
    }
}
