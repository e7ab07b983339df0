namespace MoeServe.Model.Import;

/// <summary>A checkpoint the importer refuses: the message is one line naming the key (or tensor) and its value.</summary>
public sealed class UnsupportedCheckpointException : Exception
{
    /// <summary>Creates the exception.</summary>
    public UnsupportedCheckpointException()
    {
    }

    /// <summary>Creates the exception with its one-line message.</summary>
    /// <param name="message">What is refused, naming the key and value.</param>
    public UnsupportedCheckpointException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its message and cause.</summary>
    /// <param name="message">What is refused.</param>
    /// <param name="innerException">The cause.</param>
    public UnsupportedCheckpointException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The config.json key refused (transformers' name), when the refusal is about one.</summary>
    public string? ConfigKey { get; init; }

    /// <summary>The refused value as JSON text, with <see cref="ConfigKey"/>.</summary>
    public string? ConfigValue { get; init; }

    /// <summary>Why the value is refused, with <see cref="ConfigKey"/>.</summary>
    public string? Reason { get; init; }
}
