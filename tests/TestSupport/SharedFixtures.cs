namespace MoeServe.TestSupport;

/// <summary>
/// The shared, read-only test fixtures (test data computed by llama.cpp). Looked for, in order: the folder
/// <c>$MOESERVE_FIXTURES</c> names; a <c>shared/fixtures</c> folder beside the repository or above it (the
/// team's /work/shared); the copy committed in tests/data/shared-fixtures, so a checkout without shared/
/// beside it (a CI clone elsewhere) still runs every fixture test. A missing fixture FAILS the test (it
/// never skips), naming where it was looked for.
/// </summary>
public static class SharedFixtures
{
    /// <summary>The fixture folder <paramref name="name"/> (e.g. "moe-import"); throws when absent.</summary>
    /// <param name="name">The folder under shared/fixtures.</param>
    /// <exception cref="DirectoryNotFoundException">No candidate has <paramref name="name"/>.</exception>
    public static string Directory(string name)
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("MOESERVE_FIXTURES") is { Length: > 0 } env)
        {
            candidates.Add(Path.Combine(env, name));
        }

        var ancestors = new List<string>();
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            ancestors.Add(directory.FullName);
        }

        candidates.AddRange(ancestors.Select(a => Path.Combine(a, "shared", "fixtures", name)));
        candidates.AddRange(ancestors.Select(a => Path.Combine(a, "tests", "data", "shared-fixtures", name)));
        return candidates.FirstOrDefault(System.IO.Directory.Exists)
            ?? throw new DirectoryNotFoundException(
                $"Shared test fixture '{name}' not found: it sits in ../shared/fixtures beside the repository or in tests/data/shared-fixtures. Looked in: {string.Join(", ", candidates)}");
    }
}
