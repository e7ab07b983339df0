namespace MoeServe.TestSupport;

/// <summary>
/// The shared, read-only test fixtures beside the repository (../shared/fixtures from the repository root;
/// /work/shared/fixtures on the team's machine, another path in CI). Found by walking up from the test
/// assembly's directory to the first ancestor with a <c>shared/fixtures</c> folder. A missing fixture
/// FAILS the test (it never skips), naming where it was looked for.
/// </summary>
public static class SharedFixtures
{
    /// <summary>The fixture folder <paramref name="name"/> (e.g. "moe-import"); throws when absent.</summary>
    /// <param name="name">The folder under shared/fixtures.</param>
    /// <exception cref="DirectoryNotFoundException">No ancestor has shared/fixtures/<paramref name="name"/>.</exception>
    public static string Directory(string name)
    {
        var searched = new List<string>();
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            string candidate = Path.Combine(directory.FullName, "shared", "fixtures", name);
            searched.Add(candidate);
            if (System.IO.Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException(
            $"Shared test fixture 'shared/fixtures/{name}' not found: it must sit beside the repository (../shared/fixtures/{name} from the repository root). Looked in: {string.Join(", ", searched)}");
    }
}
