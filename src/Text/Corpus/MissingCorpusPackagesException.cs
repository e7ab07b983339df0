namespace MoeServe.Text.Corpus;

/// <summary>
/// Thrown by <see cref="CorpusBuilder.Build"/> when a source's files are absent. It names the Debian
/// packages that provide them; installing is the caller's business (the <c>corpus</c> CLI command
/// may run apt-get, a library must not).
/// </summary>
public sealed class MissingCorpusPackagesException : Exception
{
    /// <summary>Creates the exception for <paramref name="packages"/>.</summary>
    /// <param name="packages">Debian package names that provide the missing files.</param>
    public MissingCorpusPackagesException(IReadOnlyList<string> packages)
        : base(Describe(packages))
    {
        Packages = packages;
    }

    /// <summary>Creates the exception with no package list (for serializers and tooling).</summary>
    public MissingCorpusPackagesException()
        : this([])
    {
    }

    /// <summary>Creates the exception with a message and no package list.</summary>
    /// <param name="message">The message.</param>
    public MissingCorpusPackagesException(string message)
        : base(message)
    {
        Packages = [];
    }

    /// <summary>Creates the exception with a message, an inner exception and no package list.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public MissingCorpusPackagesException(string message, Exception innerException)
        : base(message, innerException)
    {
        Packages = [];
    }

    /// <summary>Debian packages to install, each once, in source order.</summary>
    public IReadOnlyList<string> Packages { get; }

    private static string Describe(IReadOnlyList<string> packages)
    {
        ArgumentNullException.ThrowIfNull(packages);
        return "Corpus sources are missing; they come from the Debian packages: " + string.Join(' ', packages) + ".";
    }
}
