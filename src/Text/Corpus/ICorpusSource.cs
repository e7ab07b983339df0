namespace MoeServe.Text.Corpus;

/// <summary>A source of documents for <see cref="CorpusBuilder"/>.</summary>
public interface ICorpusSource
{
    /// <summary>Short name, recorded in split.json.</summary>
    string Name { get; }

    /// <summary>Debian packages that provide this source's files (empty for plain files).</summary>
    IReadOnlyList<string> DebianPackages { get; }

    /// <summary>True when the files this source reads are present.</summary>
    bool IsAvailable();

    /// <summary>The documents, in their natural order.</summary>
    IEnumerable<CorpusDocument> ReadDocuments();
}
