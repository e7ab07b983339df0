namespace MoeServe.Router;

/// <summary>How an options type validates an options object it holds (BIP and loss-free options here, resilience in the runtime).</summary>
public static class NestedOptionErrors
{
    /// <summary>
    /// Adds "<paramref name="name"/> must not be null." when <paramref name="nestedErrors"/> is null (the nested
    /// options are missing: pass <c>Nested?.Validate()</c>), else every problem the nested options report.
    /// </summary>
    /// <param name="errors">The outer options' problems.</param>
    /// <param name="name">The nested options' field name, as errors name it.</param>
    /// <param name="nestedErrors">The nested options' own problems, or null when they are missing.</param>
    public static void Add(List<string> errors, string name, IReadOnlyList<string>? nestedErrors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (nestedErrors is null)
        {
            errors.Add($"{name} must not be null.");
        }
        else
        {
            errors.AddRange(nestedErrors);
        }
    }
}
