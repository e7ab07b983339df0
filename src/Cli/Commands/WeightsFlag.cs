using MoeServe.Model.Quantization;

namespace MoeServe.Cli.Commands;

/// <summary>The <c>--weights float|int8|int4</c> flag that export, import and quantize share.</summary>
internal static class WeightsFlag
{
    public const string Name = "--weights";

    public const string Description =
        "Expert and attention (Q/K/V, Wo) matrices: float (stored as --dtype), or int8 / int4 blockwise quantized (block 32) and run by ONNX Runtime's MatMulNBits; embeddings, norms, router gate and head stay float.";

    /// <summary>The flag as export and import take it: float by default.</summary>
    public static Option<string> Create() => new(Name) { Description = Description, DefaultValueFactory = _ => "float" };

    /// <summary>The settings for <paramref name="text"/> (null for float), or an error naming the flag.</summary>
    public static QuantizationSettings? Parse(string text, bool allowFloat, List<string> errors)
    {
        if (!WeightQuantizationExtensions.TryParse(text, out var mode) || (!allowFloat && mode == WeightQuantization.Float))
        {
            string known = allowFloat ? WeightQuantizationExtensions.Names : "int8, int4";
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{Name} must be one of {known}, got '{text}'."));
            return null;
        }

        return QuantizationSettings.For(mode);
    }
}
