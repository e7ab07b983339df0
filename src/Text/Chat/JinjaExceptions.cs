namespace MoeServe.Text.Chat;

/// <summary>A chat template failed to parse or to render. <see cref="Line"/> and <see cref="Column"/> (1-based) point
/// into the template's source; both are 0 when the position is unknown.</summary>
public class JinjaException : Exception
{
    /// <summary>Creates the exception; the message gets the position appended.</summary>
    public JinjaException(string message, int line, int column, Exception? inner = null)
        : base(line > 0 ? $"{message} (line {line}, column {column})" : message, inner)
    {
        Line = line;
        Column = column;
    }

    /// <summary>1-based line of the construct at fault.</summary>
    public int Line { get; }

    /// <summary>1-based column of the construct at fault.</summary>
    public int Column { get; }
}

/// <summary>The template uses a Jinja construct this renderer does not implement (a statement, filter, test, method or
/// function). The caller falls back to a built-in template.</summary>
public sealed class JinjaUnsupportedException : JinjaException
{
    /// <summary>Creates the exception for one construct, e.g. "filter 'wordwrap'".</summary>
    public JinjaUnsupportedException(string construct, int line, int column)
        : base($"unsupported Jinja construct: {construct}", line, column)
    {
        Construct = construct;
    }

    /// <summary>What is unsupported, e.g. "statement 'include'" or "filter 'wordwrap'".</summary>
    public string Construct { get; }
}

/// <summary>The template itself rejected its input with <c>raise_exception(message)</c>, e.g. Mixtral's
/// "Conversation roles must alternate user/assistant/user/assistant/...". <see cref="Exception.Message"/> is the
/// template's message, unchanged.</summary>
public sealed class JinjaRaisedException : Exception
{
    /// <summary>Creates the exception with the template's message.</summary>
    public JinjaRaisedException(string message) : base(message)
    {
    }
}
