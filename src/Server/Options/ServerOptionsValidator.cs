using System.Globalization;
using Microsoft.Extensions.Options;
using MoeServe.Router;
using MoeServe.Runtime;

namespace MoeServe.Server.Options;

/// <summary>
/// Checks <see cref="ServerOptions"/> when the host starts (ValidateOnStart) and reports every
/// problem at once, each naming its option: what could not be bound, then every bad value.
/// </summary>
public sealed class ServerOptionsValidator : IValidateOptions<ServerOptions>
{
    private readonly ServerOptionsBindingReport _binding;

    /// <summary>Creates the validator.</summary>
    public ServerOptionsValidator(ServerOptionsBindingReport binding) => _binding = binding;

    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, ServerOptions options)
    {
        var errors = new List<string>(_binding.Errors);
        Validate(options, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>Adds one message per bad value to <paramref name="errors"/>.</summary>
    public static void Validate(ServerOptions options, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(errors);
        const string p = ServerOptions.SectionName + ":";

        if (string.IsNullOrWhiteSpace(options.ModelPath))
        {
            errors.Add($"{p}ModelPath: must name an exported model directory (default {ServerDefaults.ModelPath}).");
        }
        else
        {
            var full = Path.GetFullPath(options.ModelPath);
            if (!File.Exists(Path.Combine(full, "manifest.json")))
            {
                errors.Add($"{p}ModelPath: no model at '{full}' (expected {Path.Combine(full, "manifest.json")}); export one with `moeserve export` or pass --model <dir>.");
            }
        }

        foreach (var device in options.Devices)
        {
            if (!int.TryParse(device, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                errors.Add($"{p}Devices: '{device}' is not a device id (a non-negative integer).");
            }
        }

        if (options.Devices.Count == 0)
        {
            errors.Add($"{p}Devices: must list at least one device id.");
        }

        foreach (var entry in options.DeviceMap)
        {
            if (!DeviceMapEntry.TryParse(entry, out _))
            {
                errors.Add($"{p}DeviceMap: '{entry}' is not 'expert=device' with non-negative integers, e.g. '3=1'.");
            }
        }

        if (!RoutingPolicyFactory.ServingMethods.Contains(options.RoutingPolicy))
        {
            var name = Enum.IsDefined(options.RoutingPolicy) ? RoutingPolicyFactory.NameOf(options.RoutingPolicy) : options.RoutingPolicy.ToString();
            errors.Add($"{p}RoutingPolicy: {RoutingPolicyFactory.UnknownNameMessage(name, RoutingPolicyFactory.ServingMethods)}");
        }

        if (!Enum.IsDefined(options.KvCacheDType))
        {
            errors.Add($"{p}KvCacheDType: must be float16 or float32, got {(int)options.KvCacheDType}.");
        }

        if (!Enum.IsDefined(options.Kernels))
        {
            errors.Add($"{p}Kernels: must be auto or onnx, got {(int)options.Kernels}.");
        }

        Range(errors, p + "Workers", options.Workers, 1, 256);
        Range(errors, p + "IntraOpThreads", options.IntraOpThreads, 0, 256);
        Range(errors, p + "OnlineBipIterations", options.OnlineBipIterations, 1, 64);
        if (!double.IsFinite(options.QScale) || options.QScale < 0 || options.QScale > RuntimeOptions.MaxQScale)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{p}QScale must be a number in [0, {RuntimeOptions.MaxQScale}], got {options.QScale}."));
        }

        if (options.OnlineBipMinTokens is int minTokens)
        {
            Range(errors, p + "OnlineBipMinTokens", minTokens, 0, 1 << 20);
        }

        Range(errors, p + "MaxBatchSequences", options.MaxBatchSequences, 1, 4096);
        Range(errors, p + "MaxStepTokens", options.MaxStepTokens, 1, 1 << 20);
        Range(errors, p + "PrefillChunkTokens", options.PrefillChunkTokens, 1, 1 << 20);
        Range(errors, p + "MaxWaitingRequests", options.MaxWaitingRequests, 0, 1 << 20);
        Range(errors, p + "ContextLength", options.ContextLength, 0, 1 << 24);
        Range(errors, p + "RetryAfterSeconds", options.RetryAfterSeconds, 1, 3600);
        Range(errors, p + "DefaultMaxTokens", options.DefaultMaxTokens, 1, 1 << 24);
        Range(errors, p + "DefaultTopK", options.DefaultTopK, 0, 1 << 24);
        Range(errors, p + "DashboardHistorySeconds", options.DashboardHistorySeconds, 1, 100_000);
        Range(errors, p + "Port", options.Port, 1, 65535);
        if (options.MaxBatchSequences > options.MaxStepTokens)
        {
            errors.Add($"{p}MaxStepTokens ({options.MaxStepTokens}) must be at least MaxBatchSequences ({options.MaxBatchSequences}): every running sequence decodes one token per step.");
        }

        if (options.MaxRequestBodyBytes < 1024)
        {
            errors.Add($"{p}MaxRequestBodyBytes: must be at least 1024, got {options.MaxRequestBodyBytes}.");
        }

        Positive(errors, p + "RequestTimeoutSeconds", options.RequestTimeoutSeconds);
        NotNegative(errors, p + "DrainTimeoutSeconds", options.DrainTimeoutSeconds, 3600);
        NotNegative(errors, p + "ShutdownGraceSeconds", options.ShutdownGraceSeconds, 3600);

        if (options.DefaultTemperature is < 0 or > 2)
        {
            errors.Add($"{p}DefaultTemperature: must be in [0, 2], got {Format(options.DefaultTemperature)}.");
        }

        if (options.DefaultTopP is <= 0 or > 1)
        {
            errors.Add($"{p}DefaultTopP: must be in (0, 1], got {Format(options.DefaultTopP)}.");
        }
    }

    private static void Range(List<string> errors, string key, long value, long min, long max)
    {
        if (value < min || value > max)
        {
            errors.Add($"{key}: must be in [{min}, {max}], got {value}.");
        }
    }

    private static void Positive(List<string> errors, string key, double value)
    {
        if (!(value > 0))
        {
            errors.Add($"{key}: must be greater than 0, got {Format(value)}.");
        }
    }

    private static void NotNegative(List<string> errors, string key, double value, double max)
    {
        if (!(value >= 0 && value <= max))
        {
            errors.Add($"{key}: must be in [0, {Format(max)}], got {Format(value)}.");
        }
    }

    private static string Format(double value) => value.ToString(CultureInfo.InvariantCulture);
}
