using System.Globalization;

namespace MoeServe.Text.Chat;

/// <summary>The filters and tests of <see cref="JinjaParser.Filters"/> and <see cref="JinjaParser.Tests"/>, with
/// Jinja's semantics (and transformers' tojson).</summary>
internal static class JinjaFilters
{
    public static object? Apply(JinjaEvaluator evaluator, string name, object? value, IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs)
    {
        object? Arg(int index, string keyword, object? fallback) =>
            index < args.Count ? args[index] : kwargs.TryGetValue(keyword, out var v) ? v : fallback;

        switch (name)
        {
            case "safe":
                return value;
            case "default" or "d":
                bool boolean = JinjaValues.IsTrue(Arg(1, "boolean", false));
                return value is Undefined || (boolean && !JinjaValues.IsTrue(value)) ? Arg(0, "default_value", "") : value;
            case "length" or "count":
                return value switch
                {
                    string s => (long)s.Length,
                    List<object?> list => (long)list.Count,
                    OrderedDictionary<string, object?> dict => (long)dict.Count,
                    Undefined => 0L,
                    _ => throw new InvalidOperationException($"object of type '{JinjaValues.TypeName(value)}' has no len()"),
                };
            case "string":
                return JinjaValues.ToText(value);
            case "trim":
                return JinjaMethods.Strip(Str(value, name), Arg(0, "chars", null) as string, left: true, right: true);
            case "lower":
                return Str(value, name).ToLowerInvariant();
            case "upper":
                return Str(value, name).ToUpperInvariant();
            case "title":
                return JinjaMethods.Title(Str(value, name));
            case "capitalize":
                return JinjaMethods.Capitalize(Str(value, name));
            case "replace":
                return JinjaMethods.Replace(Str(value, name), JinjaValues.ToText(Arg(0, "old", "")), JinjaValues.ToText(Arg(1, "new", "")), Arg(2, "count", null));
            case "tojson":
                var indentValue = Arg(0, "indent", null);
                var separators = kwargs.GetValueOrDefault("separators") as List<object?>;
                return JinjaValues.ToJson(
                    value,
                    indentValue is long indent ? (int)indent : null,
                    JinjaValues.IsTrue(kwargs.GetValueOrDefault("ensure_ascii", false)),
                    separators?.Count == 2 ? separators[0] as string : null,
                    separators?.Count == 2 ? separators[1] as string : null,
                    JinjaValues.IsTrue(kwargs.GetValueOrDefault("sort_keys", false)));
            case "join":
                string separator = JinjaValues.ToText(Arg(0, "d", ""));
                var attribute = Arg(1, "attribute", null) as string;
                var parts = Items(evaluator, value).Select(x => attribute is null ? x : evaluator.GetAttribute(x, attribute, 0));
                return string.Join(separator, parts.Select(JinjaValues.ToText));
            case "first":
                var firstItems = Items(evaluator, value);
                return firstItems.Count > 0 ? firstItems[0] : new Undefined("first");
            case "last":
                var lastItems = Items(evaluator, value);
                return lastItems.Count > 0 ? lastItems[^1] : new Undefined("last");
            case "list":
                return Items(evaluator, value).ToList();
            case "reverse":
                return value is string rs ? new string(rs.Reverse().ToArray()) : Items(evaluator, value).AsEnumerable().Reverse().ToList();
            case "items":
                return value switch
                {
                    OrderedDictionary<string, object?> dict => dict.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList(),
                    Undefined => new List<object?>(),
                    _ => throw new InvalidOperationException($"can only get item pairs from a mapping, not {JinjaValues.TypeName(value)}"),
                };
            case "selectattr" or "rejectattr":
                string attr = Str(Arg(0, "attr", null), name);
                return Items(evaluator, value).Where(item =>
                {
                    var field = evaluator.GetAttribute(item, attr, 0);
                    bool passed = args.Count > 1 ? Test(Str(args[1], name), field, args.Skip(2).ToList()) : JinjaValues.IsTrue(field);
                    return passed == (name == "selectattr");
                }).ToList();
            case "select" or "reject":
                return Items(evaluator, value).Where(item =>
                {
                    bool passed = args.Count > 0 ? Test(Str(args[0], name), item, args.Skip(1).ToList()) : JinjaValues.IsTrue(item);
                    return passed == (name == "select");
                }).ToList();
            case "map":
                if (kwargs.TryGetValue("attribute", out var mapAttribute))
                {
                    string path = Str(mapAttribute, name);
                    return Items(evaluator, value).Select(item =>
                    {
                        var field = evaluator.GetAttribute(item, path, 0);
                        return field is Undefined && kwargs.TryGetValue("default", out var fallback) ? fallback : field;
                    }).ToList();
                }

                string filter = Str(Arg(0, "filter", null), name);
                if (!JinjaParser.Filters.Contains(filter))
                {
                    throw new JinjaUnsupportedException($"filter '{filter}' (in map)", 0, 0);
                }

                var rest = args.Skip(1).ToList();
                return Items(evaluator, value).Select(item => Apply(evaluator, filter, item, rest, kwargs)).ToList();
            case "indent":
                var width = Arg(0, "width", 4L);
                string pad = width is string w ? w : new string(' ', (int)(long)width!);
                bool first = JinjaValues.IsTrue(Arg(1, "first", false));
                bool blank = JinjaValues.IsTrue(Arg(2, "blank", false));
                var lines = Str(value, name).Split('\n');
                return string.Join("\n", lines.Select((line, i) =>
                    (i == 0 && !first) || (line.Length == 0 && !blank) ? line : pad + line));
            case "int":
                return value switch
                {
                    long l => (object)l,
                    double dv => (long)Math.Truncate(dv),
                    bool b => b ? 1L : 0L,
                    string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long parsed) => parsed,
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) => (long)Math.Truncate(parsed),
                    _ => Arg(0, "default", 0L),
                };
            case "float":
                return value switch
                {
                    long l => (object)(double)l,
                    double dv => dv,
                    bool b => b ? 1.0 : 0.0,
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) => parsed,
                    _ => Arg(0, "default", 0.0),
                };
            case "abs":
                return value switch
                {
                    long l => (object)Math.Abs(l),
                    double dv => Math.Abs(dv),
                    bool b => b ? 1L : 0L,
                    _ => throw new InvalidOperationException($"bad operand type for abs(): '{JinjaValues.TypeName(value)}'"),
                };
            default:
                throw new JinjaUnsupportedException($"filter '{name}'", 0, 0);
        }
    }

    private static string Str(object? value, string filter) => value switch
    {
        string s => s,
        Undefined => "",
        _ => JinjaValues.ToText(value),
    };

    private static List<object?> Items(JinjaEvaluator evaluator, object? value) => evaluator.Iterate(value, 0);

    public static bool Test(string name, object? value, IReadOnlyList<object?> args)
    {
        object? Other() => args.Count > 0 ? args[0] : throw new InvalidOperationException($"test '{name}' needs an argument");

        return name switch
        {
            "defined" => value is not Undefined,
            "undefined" => value is Undefined,
            "none" => value is null,
            "boolean" => value is bool,
            "true" => value is true,
            "false" => value is false,
            "string" => value is string,
            "number" => value is long or double or bool,
            "integer" => value is long,
            "float" => value is double,
            "mapping" => value is OrderedDictionary<string, object?>,
            "iterable" => value is string or List<object?> or OrderedDictionary<string, object?> or Undefined,
            "sequence" => value is string or List<object?> or OrderedDictionary<string, object?> or Undefined,
            "callable" => value is JinjaCallable,
            "lower" => value is string s && s == s.ToLowerInvariant(),
            "upper" => value is string s && s == s.ToUpperInvariant(),
            "odd" => value is long l && l % 2 != 0,
            "even" => value is long l && l % 2 == 0,
            "divisibleby" => value is long l && Other() is long d && d != 0 && l % d == 0,
            "equalto" or "eq" or "==" => JinjaValues.AreEqual(value, Other()),
            "ne" or "!=" => !JinjaValues.AreEqual(value, Other()),
            "sameas" => ReferenceEquals(value, Other()) || (value is null or bool && Equals(value, Other())),
            "in" => Other() switch
            {
                List<object?> list => list.Any(x => JinjaValues.AreEqual(x, value)),
                string text => value is string sub && text.Contains(sub, StringComparison.Ordinal),
                OrderedDictionary<string, object?> dict => value is string key && dict.ContainsKey(key),
                _ => false,
            },
            "lt" or "<" or "le" or "<=" or "gt" or ">" or "ge" or ">=" => CompareTest(name, value, Other()),
            _ => throw new JinjaUnsupportedException($"test '{name}'", 0, 0),
        };
    }

    private static bool CompareTest(string name, object? a, object? b)
    {
        int c = JinjaValues.IsNumber(a) && JinjaValues.IsNumber(b)
            ? JinjaValues.ToDouble(a).CompareTo(JinjaValues.ToDouble(b))
            : a is string x && b is string y ? string.CompareOrdinal(x, y)
            : throw new InvalidOperationException($"cannot compare {JinjaValues.TypeName(a)} with {JinjaValues.TypeName(b)}");
        return name switch
        {
            "lt" or "<" => c < 0,
            "le" or "<=" => c <= 0,
            "gt" or ">" => c > 0,
            _ => c >= 0,
        };
    }
}
