namespace MoeServe.Text.Corpus;

/// <summary>Settings of <see cref="CorpusBuilder"/>.</summary>
public sealed record CorpusOptions
{
    /// <summary>Where train.txt, validation.txt and split.json go.</summary>
    public string OutputDirectory { get; init; } = "data/corpus";

    /// <summary>Target share of each source's bytes held out for validation, in whole groups.</summary>
    public double ValidationFraction { get; init; } = 0.05;

    /// <summary>Seed of the group order; the same seed and sources give the same split.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Every problem with these options, empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(OutputDirectory))
        {
            errors.Add("OutputDirectory (--out) must not be empty.");
        }

        if (!(ValidationFraction > 0 && ValidationFraction <= 0.5))
        {
            errors.Add($"ValidationFraction (--validation-fraction) must be in (0, 0.5], got {ValidationFraction}.");
        }

        return errors;
    }
}
