namespace MoeServe.Text.Corpus;

/// <summary>One document of a corpus: the unit separated by &lt;|endoftext|&gt; in the corpus files.</summary>
/// <param name="Source">The source's name ("bible", "fortunes", "devil", "input").</param>
/// <param name="Group">
/// The unit the train/validation split works on: a whole group goes to one side (a Bible book,
/// a fortune file, a dictionary letter, an input file).
/// </param>
/// <param name="Title">A human-readable name ("Genesis 1", "science#12").</param>
/// <param name="Text">The document text, not yet normalised.</param>
public sealed record CorpusDocument(string Source, string Group, string Title, string Text);
