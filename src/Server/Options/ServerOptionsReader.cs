using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace MoeServe.Server.Options;

/// <summary>
/// Reads <see cref="ServerOptions"/> from configuration field by field so that every unparsable
/// value and every unknown key is reported together (the stock binder stops at the first).
/// </summary>
public static class ServerOptionsReader
{
    private static readonly PropertyInfo[] Properties = typeof(ServerOptions)
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.CanWrite)
        .ToArray();

    /// <summary>Reads the options section; the list holds one message per problem, each naming its key.</summary>
    public static ServerOptions Read(IConfiguration configuration, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(errors);
        var section = configuration.GetSection(ServerOptions.SectionName);
        var options = new ServerOptions();
        var known = new HashSet<string>(Properties.Select(p => p.Name), StringComparer.OrdinalIgnoreCase);
        foreach (var child in section.GetChildren())
        {
            if (!known.Contains(child.Key))
            {
                errors.Add($"{ServerOptions.SectionName}:{child.Key}: unknown option; known options are {string.Join(", ", known.Order(StringComparer.Ordinal))}.");
            }
        }

        foreach (var property in Properties)
        {
            var key = $"{ServerOptions.SectionName}:{property.Name}";
            var child = section.GetSection(property.Name);
            if (property.PropertyType == typeof(IReadOnlyList<string>))
            {
                var items = ReadList(child);
                if (items is not null)
                {
                    property.SetValue(options, items);
                }

                continue;
            }

            if (child.Value is not { } raw)
            {
                continue;
            }

            var parsed = Parse(property.PropertyType, raw.Trim());
            if (parsed is null)
            {
                errors.Add($"{key}: '{raw}' is not a valid {Describe(property.PropertyType)}.");
                continue;
            }

            property.SetValue(options, parsed);
        }

        return options with { ModelPath = ModelPathResolver.Resolve(options.ModelPath) };
    }

    private static string[]? ReadList(IConfigurationSection section)
    {
        if (section.Value is { } single)
        {
            // A single string (environment variable or command line): comma-separated entries.
            return single.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }

        var children = section.GetChildren().Select(c => c.Value).OfType<string>().ToArray();
        return children.Length > 0 ? children : null;
    }

    private static object? Parse(Type type, string raw)
    {
        if (type == typeof(string))
        {
            return raw;
        }

        if (type == typeof(int))
        {
            return int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? i : null;
        }

        if (type == typeof(long))
        {
            return long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) ? l : null;
        }

        if (type == typeof(double))
        {
            return double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? d : null;
        }

        if (type == typeof(bool))
        {
            return bool.TryParse(raw, out var b) ? b : null;
        }

        throw new NotSupportedException($"Option type {type} has no parser.");
    }

    private static string Describe(Type type) =>
        type == typeof(int) || type == typeof(long) ? "integer"
        : type == typeof(double) ? "number"
        : type == typeof(bool) ? "boolean (true/false)"
        : type.Name;
}
