using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Options;
using MoeServe.Router;

namespace MoeServe.Server.Options;

/// <summary>
/// Binds <see cref="ServerOptions"/> from the "MoeServe" configuration section, field by field, so
/// that every unparsable value and every unknown key is reported together (the stock binder stops
/// at the first): the problems go to <see cref="ServerOptionsBindingReport"/>, which
/// <see cref="ServerOptionsValidator"/> lists with its own when the host starts.
/// </summary>
public sealed class ServerOptionsSetup : IConfigureOptions<ServerOptions>
{
    private static readonly PropertyInfo[] Properties = typeof(ServerOptions)
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.CanWrite)
        .ToArray();

    private readonly IConfiguration _configuration;
    private readonly ServerOptionsBindingReport _report;

    /// <summary>Creates the setup.</summary>
    public ServerOptionsSetup(IConfiguration configuration, ServerOptionsBindingReport report)
    {
        _configuration = configuration;
        _report = report;
    }

    /// <inheritdoc/>
    public void Configure(ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        Bind(_configuration.GetSection(ServerOptions.SectionName), options, errors);
        options.ModelPath = ModelPathResolver.Resolve(options.ModelPath);
        _report.Set(errors);
    }

    private static void Bind(IConfigurationSection section, ServerOptions options, List<string> errors)
    {
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
                if (ReadList(child) is { } items)
                {
                    property.SetValue(options, items);
                }

                continue;
            }

            if (child.Value is not { } raw)
            {
                continue;
            }

            if (Parse(property.PropertyType, raw.Trim()) is { } parsed)
            {
                property.SetValue(options, parsed);
            }
            else
            {
                errors.Add($"{key}: '{raw}' is not {Describe(property.PropertyType)}.");
            }
        }
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
        type = Nullable.GetUnderlyingType(type) ?? type;
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

        if (type == typeof(RoutingMethod))
        {
            return RoutingPolicyFactory.TryParseServingMethod(raw, out var method) ? method : null;
        }

        if (type.IsEnum)
        {
            // Names only: Enum.TryParse would also take "7".
            return Enum.GetValues(type).Cast<object>().FirstOrDefault(k => k.ToString()!.Equals(raw, StringComparison.OrdinalIgnoreCase));
        }

        throw new NotSupportedException($"Option type {type} has no parser.");
    }

    private static string Describe(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type == typeof(int) || type == typeof(long) ? "a valid integer"
            : type == typeof(double) ? "a valid number"
            : type == typeof(bool) ? "a valid boolean (true/false)"
            : type == typeof(RoutingMethod) ? $"one of {string.Join(", ", RoutingPolicyFactory.ServingMethods.Select(RoutingPolicyFactory.NameOf))}"
            : type.IsEnum ? $"one of {string.Join(", ", Enum.GetNames(type).Select(n => n.ToLowerInvariant()))}"
            : "a valid " + type.Name;
    }
}

/// <summary>What <see cref="ServerOptionsSetup"/> could not bind, for the validator to report.</summary>
public sealed class ServerOptionsBindingReport
{
    private volatile IReadOnlyList<string> _errors = [];

    /// <summary>One message per unknown key or unparsable value, each naming its key.</summary>
    public IReadOnlyList<string> Errors => _errors;

    internal void Set(IReadOnlyList<string> errors) => _errors = errors;
}
