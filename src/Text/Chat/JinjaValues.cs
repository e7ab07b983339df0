using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MoeServe.Text.Chat;

/// <summary>Jinja's default Undefined: renders as "", is false, iterates as empty, has length 0; any other use
/// (an attribute of it, arithmetic, a call) is an error naming it.</summary>
internal sealed class Undefined
{
    public Undefined(string name) => Name = name;

    public string Name { get; }

    public override string ToString() => "";
}

/// <summary>The object namespace() returns: attributes a loop body can assign with {% set ns.x = ... %}.</summary>
internal sealed class JinjaNamespace
{
    public OrderedDictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>A function value: a global, a macro, or a bound method.</summary>
internal delegate object? JinjaCallable(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs);

/// <summary>The value model shared by the evaluator: null (none), <see cref="Undefined"/>, bool, long, double, string,
/// <see cref="List{T}"/> of values (lists and tuples), <see cref="OrderedDictionary{TKey,TValue}"/> (mappings),
/// <see cref="JinjaNamespace"/> and <see cref="JinjaCallable"/>. Conversions to text follow Python's str().</summary>
internal static class JinjaValues
{
    /// <summary>A JSON value as a template value: objects keep their key order; integral numbers are integers.</summary>
    public static object? FromJson(JsonNode? node)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonObject obj:
                var dict = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (key, child) in obj)
                {
                    dict[key] = FromJson(child);
                }

                return dict;
            case JsonArray array:
                return array.Select(FromJson).ToList();
            default:
                var value = node.AsValue();
                switch (value.GetValueKind())
                {
                    case JsonValueKind.String:
                        return value.GetValue<string>();
                    case JsonValueKind.True:
                        return true;
                    case JsonValueKind.False:
                        return false;
                    case JsonValueKind.Number:
                        using (var doc = JsonDocument.Parse(value.ToJsonString()))
                        {
                            var element = doc.RootElement;
                            return element.TryGetInt64(out long l) ? l
                                : element.GetDouble() is var d && Math.Floor(d) == d && Math.Abs(d) < 9e15 ? (long)d : (object)d;
                        }

                    default:
                        return null;
                }
        }
    }

    public static bool IsTrue(object? value) => value switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> list => list.Count > 0,
        OrderedDictionary<string, object?> dict => dict.Count > 0,
        _ => true,
    };

    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        Undefined => "Undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        OrderedDictionary<string, object?> => "dict",
        JinjaNamespace => "Namespace",
        JinjaCallable => "function",
        _ => value.GetType().Name,
    };

    /// <summary>Python's str(): what {{ value }}, ~ and the string filter produce.</summary>
    public static string ToText(object? value) => value switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(value),
    };

    /// <summary>Python's repr(), used for values inside lists and dicts.</summary>
    public static string Repr(object? value)
    {
        switch (value)
        {
            case null: return "None";
            case Undefined: return "";
            case bool b: return b ? "True" : "False";
            case long l: return l.ToString(CultureInfo.InvariantCulture);
            case double d: return FormatFloat(d);
            case string s:
                char quote = s.Contains('\'', StringComparison.Ordinal) && !s.Contains('"', StringComparison.Ordinal) ? '"' : '\'';
                var sb = new StringBuilder().Append(quote);
                foreach (char c in s)
                {
                    _ = c switch
                    {
                        '\\' => sb.Append("\\\\"),
                        '\n' => sb.Append("\\n"),
                        '\r' => sb.Append("\\r"),
                        '\t' => sb.Append("\\t"),
                        _ when c == quote => sb.Append('\\').Append(c),
                        _ => sb.Append(c),
                    };
                }

                return sb.Append(quote).ToString();
            case List<object?> list:
                return "[" + string.Join(", ", list.Select(Repr)) + "]";
            case OrderedDictionary<string, object?> dict:
                return "{" + string.Join(", ", dict.Select(kv => Repr(kv.Key) + ": " + Repr(kv.Value))) + "}";
            case JinjaNamespace ns:
                return "<Namespace " + string.Join(", ", ns.Attributes.Select(kv => kv.Key + "=" + Repr(kv.Value))) + ">";
            default:
                return "<function>";
        }
    }

    public static string FormatFloat(double d)
    {
        if (double.IsNaN(d))
        {
            return "nan";
        }

        if (double.IsInfinity(d))
        {
            return d > 0 ? "inf" : "-inf";
        }

        string s = d.ToString("R", CultureInfo.InvariantCulture);
        return s.Contains('.', StringComparison.Ordinal) || s.Contains('E', StringComparison.Ordinal) ? s.Replace("E", "e", StringComparison.Ordinal) : s + ".0";
    }

    /// <summary>Python's ==: numbers compare by value (True == 1), lists and dicts element-wise.</summary>
    public static bool AreEqual(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b))
        {
            return ToDouble(a) == ToDouble(b);
        }

        return (a, b) switch
        {
            (null, null) => true,
            (Undefined, Undefined) => true,
            (string x, string y) => string.Equals(x, y, StringComparison.Ordinal),
            (List<object?> x, List<object?> y) => x.Count == y.Count && x.Zip(y).All(p => AreEqual(p.First, p.Second)),
            (OrderedDictionary<string, object?> x, OrderedDictionary<string, object?> y) =>
                x.Count == y.Count && x.All(kv => y.TryGetValue(kv.Key, out var v) && AreEqual(kv.Value, v)),
            _ => ReferenceEquals(a, b),
        };
    }

    public static bool IsNumber(object? value) => value is long or double or bool;

    public static double ToDouble(object? value) => value switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => throw new InvalidOperationException($"not a number: {TypeName(value)}"),
    };

    /// <summary>The tojson filter as transformers defines it: json.dumps(value, ensure_ascii=False, indent=indent,
    /// separators=separators, sort_keys=sort_keys).</summary>
    public static string ToJson(object? value, int? indent = null, bool ensureAscii = false, string? itemSeparator = null, string? keySeparator = null, bool sortKeys = false)
    {
        var sb = new StringBuilder();
        itemSeparator ??= indent is null ? ", " : ",";
        keySeparator ??= ": ";
        WriteJson(sb, value, indent, 0, ensureAscii, itemSeparator, keySeparator, sortKeys);
        return sb.ToString();
    }

    private static void WriteJson(StringBuilder sb, object? value, int? indent, int depth, bool ascii, string itemSep, string keySep, bool sortKeys)
    {
        switch (value)
        {
            case null or Undefined:
                sb.Append("null");
                return;
            case bool b:
                sb.Append(b ? "true" : "false");
                return;
            case long l:
                sb.Append(l.ToString(CultureInfo.InvariantCulture));
                return;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsInfinity(d) ? (d > 0 ? "Infinity" : "-Infinity") : FormatFloat(d));
                return;
            case string s:
                WriteJsonString(sb, s, ascii);
                return;
            case List<object?> list:
                WriteContainer(sb, '[', ']', list, indent, depth, itemSep, item => WriteJson(sb, item, indent, depth + 1, ascii, itemSep, keySep, sortKeys));
                return;
            case OrderedDictionary<string, object?> or JinjaNamespace:
                IEnumerable<KeyValuePair<string, object?>> entries = value is JinjaNamespace ns ? ns.Attributes : (OrderedDictionary<string, object?>)value;
                if (sortKeys)
                {
                    entries = entries.OrderBy(kv => kv.Key, StringComparer.Ordinal);
                }

                WriteContainer(sb, '{', '}', entries.ToList(), indent, depth, itemSep, kv =>
                {
                    WriteJsonString(sb, kv.Key, ascii);
                    sb.Append(keySep);
                    WriteJson(sb, kv.Value, indent, depth + 1, ascii, itemSep, keySep, sortKeys);
                });
                return;
            default:
                throw new InvalidOperationException($"Object of type {TypeName(value)} is not JSON serializable");
        }
    }

    private static void WriteContainer<T>(StringBuilder sb, char open, char close, IReadOnlyList<T> items, int? indent, int depth, string itemSep, Action<T> writeItem)
    {
        sb.Append(open);
        if (items.Count == 0)
        {
            sb.Append(close);
            return;
        }

        for (int i = 0; i < items.Count; i++)
        {
            if (i > 0)
            {
                sb.Append(itemSep);
            }

            if (indent is int n)
            {
                sb.Append('\n').Append(' ', n * (depth + 1));
            }

            writeItem(items[i]);
        }

        if (indent is int m)
        {
            sb.Append('\n').Append(' ', m * depth);
        }

        sb.Append(close);
    }

    private static void WriteJsonString(StringBuilder sb, string s, bool ascii)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ascii && c > 0x7e))
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        sb.Append('"');
    }
}
