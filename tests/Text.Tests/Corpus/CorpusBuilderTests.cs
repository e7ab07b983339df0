using System.Text.Json;

using MoeServe.Text.Corpus;
using MoeServe.Text.Tokenization;

namespace MoeServe.Text.Tests.Corpus;

public sealed class CorpusBuilderTests
{
    private static List<(CorpusDocument Document, long Bytes)> Books(int books, int chaptersPerBook)
    {
        var documents = new List<(CorpusDocument, long)>();
        for (int b = 0; b < books; b++)
        {
            for (int c = 0; c < chaptersPerBook; c++)
            {
                string text = $"Book{b} {c}\nSome verse text number {c} of book {b}.\n";
                documents.Add((new CorpusDocument("bible", $"Book{b}", $"Book{b} {c}", text), text.Length));
            }
        }

        return documents;
    }

    [Fact]
    public void ChooseValidationGroups_ManyGroups_HoldsOutNearTheTargetShare()
    {
        var documents = Books(60, 10);

        var held = new CorpusSplitter(0.1, seed: 3).ChooseValidationGroups(documents);

        long heldBytes = documents.Where(d => held.Contains(CorpusSplitter.Key("bible", d.Document.Group))).Sum(d => d.Bytes);
        double share = heldBytes / (double)documents.Sum(d => d.Bytes);
        Assert.InRange(share, 0.1, 0.15);
        Assert.InRange(held.Count, 5, 8);
    }

    [Fact]
    public void ChooseValidationGroups_SameSeed_SameGroups_OtherSeed_Differs()
    {
        var documents = Books(60, 3);

        var first = new CorpusSplitter(0.1, seed: 1).ChooseValidationGroups(documents);
        var again = new CorpusSplitter(0.1, seed: 1).ChooseValidationGroups(documents);
        var other = new CorpusSplitter(0.1, seed: 2).ChooseValidationGroups(documents);

        Assert.Equal(first.Order(), again.Order());
        Assert.NotEqual(first.Order(), other.Order());
    }

    [Fact]
    public void ChooseValidationGroups_SingleGroupSource_StaysInTraining()
    {
        var held = new CorpusSplitter(0.5, seed: 1).ChooseValidationGroups(Books(1, 20));

        Assert.Empty(held);
    }

    [Fact]
    public void Build_TwoSources_SplitByGroupWithNoOverlap()
    {
        using var directory = new TempDirectory();
        var sources = new ICorpusSource[]
        {
            new FakeSource("bible", [.. Books(30, 4).Select(d => d.Document)]),
            new FakeSource("fortunes", [.. Enumerable.Range(0, 200).Select(i => new CorpusDocument("fortunes", $"file{i % 20}", $"q{i}", $"Quote number {i}.\n\t-- Author {i}"))]),
        };

        var report = new CorpusBuilder(new CorpusOptions { OutputDirectory = directory.Path, ValidationFraction = 0.2 }).Build(sources);

        string train = File.ReadAllText(Path.Combine(directory.Path, CorpusBuilder.TrainFileName));
        string validation = File.ReadAllText(Path.Combine(directory.Path, CorpusBuilder.ValidationFileName));
        var trainDocs = CorpusEncoder.SplitDocuments(train).Select(r => train.Substring(r.Start, r.Length)).ToList();
        var validationDocs = CorpusEncoder.SplitDocuments(validation).Select(r => validation.Substring(r.Start, r.Length)).ToList();

        Assert.Equal(120 + 200, trainDocs.Count + validationDocs.Count);
        Assert.Equal(report.Train.Documents, trainDocs.Count);
        Assert.Equal(report.Validation.Documents, validationDocs.Count);
        Assert.EndsWith(SpecialTokens.EndOfText, train, StringComparison.Ordinal);
        Assert.EndsWith(SpecialTokens.EndOfText, validation, StringComparison.Ordinal);
        Assert.Empty(trainDocs.Intersect(validationDocs));
        foreach (var source in report.Sources)
        {
            Assert.NotEmpty(source.Validation.Groups);
            Assert.NotEmpty(source.Train.Groups);
            Assert.Empty(source.Train.Groups.Intersect(source.Validation.Groups));
        }

        // Every held-out group's documents are all in validation: whole books, not chapters.
        var heldBooks = report.Sources.Single(s => s.Name == "bible").Validation.Groups;
        Assert.All(heldBooks, book => Assert.Equal(4, validationDocs.Count(d => d.StartsWith(book + " ", StringComparison.Ordinal))));
        Assert.DoesNotContain(trainDocs, d => heldBooks.Any(book => d.StartsWith(book + " ", StringComparison.Ordinal)));
    }

    [Fact]
    public void Build_Documents_AreNormalisedAndSplitJsonReadable()
    {
        using var directory = new TempDirectory();
        var source = new FakeSource("input", [new CorpusDocument("input", "a", "a", "one\r\n\r\n\r\ntwo  "), new CorpusDocument("input", "b", "b", "  \n ")]);

        new CorpusBuilder(new CorpusOptions { OutputDirectory = directory.Path }).Build([source]);

        Assert.Equal("one\n\ntwo\n" + SpecialTokens.EndOfText, File.ReadAllText(Path.Combine(directory.Path, CorpusBuilder.TrainFileName)));
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory.Path, CorpusBuilder.SplitFileName)));
        Assert.Equal(SpecialTokens.EndOfText, json.RootElement.GetProperty("documentSeparator").GetString());
        Assert.Equal(1, json.RootElement.GetProperty("train").GetProperty("documents").GetInt32());
    }

    [Fact]
    public void Constructor_BadOptions_ListsEveryProblem()
    {
        var error = Assert.Throws<ArgumentException>(() => new CorpusBuilder(new CorpusOptions { OutputDirectory = " ", ValidationFraction = 0.9 }));

        Assert.Contains("--out", error.Message, StringComparison.Ordinal);
        Assert.Contains("--validation-fraction", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sample_IsAFewKilobytesOfMarkedDocuments()
    {
        string sample = TestData.Sample;

        Assert.InRange(sample.Length, 2_000, 16_000);
        Assert.True(CorpusEncoder.SplitDocuments(sample).Count >= 10);
        Assert.EndsWith(SpecialTokens.EndOfText, sample, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_SourceFilesMissing_ThrowsNamingThePackagesAndWritesNothing()
    {
        using var directory = new TempDirectory();
        var present = new FakeSource("here", [new CorpusDocument("here", "g", "d", "text")]);
        var absent = new FakeSource("gone", [], ["pkg-a", "pkg-b"], available: false);
        var alsoAbsent = new FakeSource("gone2", [], ["pkg-b", "pkg-c"], available: false);

        var error = Assert.Throws<MissingCorpusPackagesException>(() => new CorpusBuilder(new CorpusOptions { OutputDirectory = directory.Path }).Build([present, absent, alsoAbsent]));

        Assert.Equal(["pkg-a", "pkg-b", "pkg-c"], error.Packages);
        Assert.Contains("pkg-a pkg-b pkg-c", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(directory.Path, CorpusBuilder.TrainFileName)));
    }

    private sealed class FakeSource(string name, IReadOnlyList<CorpusDocument> documents, IReadOnlyList<string>? packages = null, bool available = true) : ICorpusSource
    {
        public string Name => name;

        public IReadOnlyList<string> DebianPackages => packages ?? [];

        public bool IsAvailable() => available;

        public IEnumerable<CorpusDocument> ReadDocuments() => documents;
    }
}
