using System.Reflection;
using MoeServe.Server.Options;

namespace MoeServe.LoadTest.Tests.Support;

/// <summary>The option names the server binds: the settable properties of <see cref="ServerOptions"/>, by reflection.</summary>
internal static class ServerOptionNames
{
    /// <summary>The type the names come from, for assertion messages.</summary>
    public static string Source => typeof(ServerOptions).FullName!;

    /// <summary>Names of ServerOptions' public properties that configuration binding can set (init or set).</summary>
    public static IReadOnlySet<string> All { get; } = typeof(ServerOptions)
        .GetProperties(BindingFlags.Instance | BindingFlags.Public)
        .Where(p => p.SetMethod is { IsPublic: true })
        .Select(p => p.Name)
        .ToHashSet(StringComparer.Ordinal);

    /// <summary>True when an environment variable MoeServe__Name (or MoeServe__Name__0 for lists) names a server option.</summary>
    public static bool IsOption(string environmentVariable)
    {
        var parts = environmentVariable.Split("__");
        return parts.Length >= 2 && parts[0] == "MoeServe" && All.Contains(parts[1]);
    }
}
