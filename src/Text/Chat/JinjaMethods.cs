using System.Globalization;
using System.Text;

namespace MoeServe.Text.Chat;

/// <summary>The Python str and dict methods templates call, bound to their receiver.</summary>
internal static class JinjaMethods
{
    public static JinjaCallable? Bind(string s, string name) => name switch
    {
        "startswith" => (args, _) => Affix(s, Arg(args, 0, name), start: true),
        "endswith" => (args, _) => Affix(s, Arg(args, 0, name), start: false),
        "strip" => (args, _) => Strip(s, OptionalChars(args), left: true, right: true),
        "lstrip" => (args, _) => Strip(s, OptionalChars(args), left: true, right: false),
        "rstrip" => (args, _) => Strip(s, OptionalChars(args), left: false, right: true),
        "split" => (args, kwargs) => Split(s, args.Count > 0 ? args[0] : kwargs.GetValueOrDefault("sep"), args.Count > 1 ? args[1] : kwargs.GetValueOrDefault("maxsplit", -1L)),
        "replace" => (args, kwargs) => Replace(s, Text(Arg(args, 0, name)), Text(Arg(args, 1, name)), args.Count > 2 ? args[2] : kwargs.GetValueOrDefault("count", -1L)),
        "lower" => (_, _) => s.ToLowerInvariant(),
        "upper" => (_, _) => s.ToUpperInvariant(),
        "title" => (_, _) => Title(s),
        "capitalize" => (_, _) => Capitalize(s),
        "join" => (args, _) => string.Join(s, Items(Arg(args, 0, name)).Select(JinjaValues.ToText)),
        _ => null,
    };

    public static JinjaCallable? Bind(OrderedDictionary<string, object?> dict, string name) => name switch
    {
        "get" => (args, _) => dict.TryGetValue(Text(Arg(args, 0, name)), out var v) ? v : args.Count > 1 ? args[1] : null,
        "items" => (_, _) => dict.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList(),
        "keys" => (_, _) => dict.Keys.Select(k => (object?)k).ToList(),
        "values" => (_, _) => dict.Values.ToList(),
        _ => null,
    };

    private static object? Arg(IReadOnlyList<object?> args, int index, string method) =>
        index < args.Count ? args[index] : throw new InvalidOperationException($"{method}() missing argument {index + 1}");

    private static string Text(object? value) =>
        value as string ?? throw new InvalidOperationException($"expected a string argument, got {JinjaValues.TypeName(value)}");

    private static IEnumerable<object?> Items(object? value) => value switch
    {
        List<object?> list => list,
        string s => s.Select(c => (object?)c.ToString()),
        OrderedDictionary<string, object?> dict => dict.Keys,
        _ => throw new InvalidOperationException($"'{JinjaValues.TypeName(value)}' object is not iterable"),
    };

    private static string? OptionalChars(IReadOnlyList<object?> args) =>
        args.Count == 0 || args[0] is null ? null : Text(args[0]);

    private static bool Affix(string s, object? pattern, bool start)
    {
        var candidates = pattern is List<object?> tuple ? tuple.Select(Text) : [Text(pattern)];
        return candidates.Any(p => start ? s.StartsWith(p, StringComparison.Ordinal) : s.EndsWith(p, StringComparison.Ordinal));
    }

    /// <summary>Python's strip family: whitespace when <paramref name="chars"/> is null, else any of its characters.</summary>
    public static string Strip(string s, string? chars, bool left, bool right)
    {
        bool Strippable(char c) => chars is null ? char.IsWhiteSpace(c) : chars.Contains(c, StringComparison.Ordinal);
        int start = 0, end = s.Length;
        while (left && start < end && Strippable(s[start]))
        {
            start++;
        }

        while (right && end > start && Strippable(s[end - 1]))
        {
            end--;
        }

        return s[start..end];
    }

    private static List<object?> Split(string s, object? sep, object? maxsplitValue)
    {
        long maxsplit = maxsplitValue is long m ? m : -1;
        var result = new List<object?>();
        if (sep is null)
        {
            // Runs of whitespace separate; no empty strings at either end.
            int i = 0;
            while (true)
            {
                while (i < s.Length && char.IsWhiteSpace(s[i]))
                {
                    i++;
                }

                if (i >= s.Length)
                {
                    break;
                }

                if (maxsplit >= 0 && result.Count >= maxsplit)
                {
                    result.Add(s[i..].TrimEnd());
                    break;
                }

                int j = i;
                while (j < s.Length && !char.IsWhiteSpace(s[j]))
                {
                    j++;
                }

                result.Add(s[i..j]);
                i = j;
            }

            return result;
        }

        string separator = Text(sep);
        if (separator.Length == 0)
        {
            throw new InvalidOperationException("empty separator");
        }

        int from = 0;
        while (maxsplit < 0 || result.Count < maxsplit)
        {
            int at = s.IndexOf(separator, from, StringComparison.Ordinal);
            if (at < 0)
            {
                break;
            }

            result.Add(s[from..at]);
            from = at + separator.Length;
        }

        result.Add(s[from..]);
        return result;
    }

    public static string Replace(string s, string old, string replacement, object? countValue)
    {
        long count = countValue is long c ? c : -1;
        if (count < 0)
        {
            return old.Length == 0 ? InsertEverywhere(s, replacement) : s.Replace(old, replacement, StringComparison.Ordinal);
        }

        var sb = new StringBuilder();
        int from = 0;
        for (long done = 0; done < count; done++)
        {
            int at = s.IndexOf(old, from, StringComparison.Ordinal);
            if (at < 0)
            {
                break;
            }

            sb.Append(s, from, at - from).Append(replacement);
            from = at + old.Length;
        }

        return sb.Append(s, from, s.Length - from).ToString();
    }

    private static string InsertEverywhere(string s, string insert)
    {
        var sb = new StringBuilder(insert);
        foreach (char c in s)
        {
            sb.Append(c).Append(insert);
        }

        return sb.ToString();
    }

    /// <summary>Python's str.title(): a letter after a non-letter is upper case, other letters lower case.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousIsLetter = false;
        foreach (char c in s)
        {
            sb.Append(previousIsLetter ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousIsLetter = char.IsLetter(c);
        }

        return sb.ToString();
    }

    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpper(s[0], CultureInfo.InvariantCulture) + s[1..].ToLowerInvariant();
}
