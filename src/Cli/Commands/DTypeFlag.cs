using MoeServe.Model;

namespace MoeServe.Cli.Commands;

/// <summary>The <c>--dtype float16|float32</c> flag that export and import share (weight storage inside the graphs).</summary>
internal static class DTypeFlag
{
    public const string Name = "--dtype";

    /// <summary>The flag, float16 by default, with the command's own <paramref name="description"/>.</summary>
    public static Option<string> Create(string description) => new(Name) { Description = description, DefaultValueFactory = _ => "float16" };

    /// <summary>The storage type for <paramref name="text"/>, or an error naming the flag (and float16 in its place).</summary>
    public static TensorDType Parse(string text, List<string> errors)
    {
        if (TensorDTypeExtensions.TryParse(text, out var dtype))
        {
            return dtype;
        }

        errors.Add($"{Name} must be float16 or float32, got '{text}'.");
        return TensorDType.Float16;
    }
}
