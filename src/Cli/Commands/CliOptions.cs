namespace MoeServe.Cli.Commands;

/// <summary>The options several commands declare alike (same name, type and arity), each command with its own description.</summary>
internal static class CliOptions
{
    /// <summary>A required <c>--model</c>: the model directory (models/NAME, with manifest.json) the command reads.</summary>
    public static Option<string> Model(string description) => new("--model") { Description = description, Required = true };

    /// <summary>A required <c>--out</c>: what the command writes.</summary>
    public static Option<string> Out(string description) => new("--out") { Description = description, Required = true };

    /// <summary><c>--json</c>: print JSON instead of text.</summary>
    public static Option<bool> Json(string description) => new("--json") { Description = description };

    /// <summary><c>--name</c> of a model that export or import writes.</summary>
    public static Option<string?> ModelName() => new("--name") { Description = "Model name in the manifest (default: the --out directory's name)." };
}
