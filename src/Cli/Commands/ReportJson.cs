using System.Text.Json;
using System.Text.Json.Serialization;

namespace MoeServe.Cli.Commands;

/// <summary>
/// The JSON of the measuring commands' reports (eval, frontier, bench): camelCase, indented, and NaN or
/// infinity written as strings rather than failing, since a measurement can be undefined (no tokens, no load).
/// </summary>
internal static class ReportJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web) { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
}
