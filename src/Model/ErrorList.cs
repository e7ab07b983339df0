namespace MoeServe.Model;

/// <summary>The one shape of a message that lists several problems: "title:" then one "  - problem" line each.</summary>
public static class ErrorList
{
    /// <summary>"<paramref name="title"/>:" followed by one indented line per error.</summary>
    /// <param name="title">What was invalid, without the colon.</param>
    /// <param name="errors">Every problem found.</param>
    public static string Format(string title, IEnumerable<string> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        return title + ":" + string.Concat(errors.Select(e => Environment.NewLine + "  - " + e));
    }

    /// <summary>Throws one <see cref="ArgumentException"/> listing every problem when there is any: how options and
    /// setups are refused (bad files throw <see cref="InvalidDataException"/> instead).</summary>
    /// <param name="title">What was invalid, without the colon.</param>
    /// <param name="errors">Every problem found, possibly none.</param>
    public static void ThrowInvalidArgumentIfAny(string title, IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (errors.Count > 0)
        {
            throw new ArgumentException(Format(title, errors));
        }
    }
}
