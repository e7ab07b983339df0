namespace MoeServe.Server.Options;

/// <summary>
/// Resolves a relative model path: from the working directory first, then from each parent of the
/// working directory and of the program's own directory, so `dotnet run --project src/Server` finds
/// models/default from the repository root or from inside src/Server alike.
/// </summary>
public static class ModelPathResolver
{
    /// <summary>The first existing candidate for <paramref name="path"/>, or the path itself when none exists.</summary>
    public static string Resolve(string path)
    {
        if (string.IsNullOrWhiteSpace(path) || Path.IsPathRooted(path) || Directory.Exists(path) || File.Exists(path))
        {
            return path;
        }

        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start).Parent; dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, path);
                if (File.Exists(Path.Combine(candidate, "manifest.json")))
                {
                    return candidate;
                }
            }
        }

        return path;
    }
}
