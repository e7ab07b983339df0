using MoeServe.Router;
using MoeServe.Runtime;

namespace MoeServe.Cli.Commands;

/// <summary>The runtime flags that generate, eval and bench share (model, provider, devices, workers, routing).</summary>
internal sealed class GenerateRuntimeFlags
{
    public Option<string> Model { get; } = CliOptions.Model("Model directory written by export (models/NAME, with manifest.json).");

    public Option<string> Provider { get; } = new("--provider") { Description = "Execution provider: cpu, cuda or auto (cuda falls back to cpu per device when CUDA cannot load; the fallback is printed).", DefaultValueFactory = _ => "cpu" };

    public Option<string> Devices { get; } = new("--devices") { Description = "Comma-separated device ids the experts are spread over round-robin, e.g. 0,1.", DefaultValueFactory = _ => "0" };

    public Option<int> Workers { get; } = new("--workers") { Description = "Threads that run a step's experts (and per-sequence dense graphs) concurrently.", DefaultValueFactory = _ => 2 };

    public Option<int> Threads { get; } = new("--intra-op-threads") { Description = "ONNX Runtime intra-op threads: of the process's global pool (shared sessions), else per session; 0 (default) = by the model: 1, or the processor count when its experts are large (OLMoE-sized).", DefaultValueFactory = _ => 0 };

    public Option<string> Routing { get; } = new("--routing") { Description = "Expert selection: trained (frozen trained q, default), online-bip (BIP on every batch, warm-started from q) or topk (plain top-K, ignores q).", DefaultValueFactory = _ => "trained" };

    public Option<double> QScale { get; } = new("--q-scale") { Description = "lambda: serve lambda x q (0 = plain top-K on the router, 1 = q as calibrated or trained, > 1 towards balance; 0..16).", DefaultValueFactory = _ => 1.0 };

    public Option<bool> SharedSessions { get; } = new("--shared-sessions") { Description = "Sessions share ONNX Runtime's global thread pools (sized by --intra-op-threads) and one CPU arena (true, default), or each has its own (false).", DefaultValueFactory = _ => true };

    public Option<string> KvCache { get; } = new("--kv-cache") { Description = "KV cache element type: float16 (default, half the bytes attention reads) or float32 (the qkv graph's numbers exactly).", DefaultValueFactory = _ => "float16" };

    public Option<string> Kernels { get; } = new("--kernels") { Description = "Managed kernels where they apply: auto (default: 4-bit experts in the int4 kernel; a small float16 model's steps of few tokens in the float16 kernels) or onnx (ONNX Runtime sessions for everything).", DefaultValueFactory = _ => "auto" };

    public IEnumerable<Option> All => [Model, Provider, Devices, Workers, Threads, Routing, QScale, SharedSessions, KvCache, Kernels];

    /// <summary>Parses an enum member's name (any case); false for anything else.</summary>
    public static bool TryParseName<TEnum>(string? text, out TEnum value)
        where TEnum : struct, Enum
    {
        // By name only (Enum.TryParse would also take "1"); the default on failure, so only the flag's error is listed.
        var named = Enum.GetValues<TEnum>().Where(d => string.Equals(d.ToString(), text?.Trim(), StringComparison.OrdinalIgnoreCase)).ToArray();
        value = named.Length == 1 ? named[0] : default;
        return named.Length == 1;
    }

    /// <summary>Adds every runtime flag to <paramref name="command"/>, after its own options.</summary>
    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        foreach (var option in All)
        {
            command.Options.Add(option);
        }
    }

    /// <summary>A command with every runtime flag first, then its own <paramref name="options"/>.</summary>
    public Command NewCommand(string name, string description, params Option[] options)
    {
        var command = new Command(name, description);
        foreach (var option in All.Concat(options))
        {
            command.Options.Add(option);
        }

        return command;
    }

    /// <summary>Parses a comma-separated list of positive integers; adds an error naming the flag on failure.</summary>
    public static int[] ParseIntList(string text, string flag, int min, List<string> errors)
    {
        var values = new List<int>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) || value < min)
            {
                errors.Add($"{flag}: '{part}' is not an integer >= {min} (expected a comma-separated list such as 1,8,32).");
                continue;
            }

            values.Add(value);
        }

        if (values.Count == 0 && !errors.Any(e => e.StartsWith(flag, StringComparison.Ordinal)))
        {
            errors.Add($"{flag} needs at least one value.");
        }

        return [.. values];
    }

    /// <summary>Builds validated runtime options from the flags; every problem goes into <paramref name="errors"/>.</summary>
    public RuntimeOptions Build(ParseResult parse, List<string> errors, Func<RuntimeOptions, RuntimeOptions>? change = null)
    {
        string provider = parse.GetValue(Provider)!;
        var kind = ExecutionProviderKind.Cpu;
        if (!Enum.TryParse(provider, ignoreCase: true, out kind) || !Enum.IsDefined(kind) || int.TryParse(provider, CultureInfo.InvariantCulture, out _))
        {
            errors.Add($"--provider must be cpu, cuda or auto, got '{provider}'.");
        }

        string routingName = parse.GetValue(Routing)!;
        if (!RoutingPolicyFactory.TryParseServingMethod(routingName, out var routing))
        {
            errors.Add("--routing: " + RoutingPolicyFactory.UnknownNameMessage(routingName, RoutingPolicyFactory.ServingMethods));
        }

        string kvCacheName = parse.GetValue(KvCache)!;
        if (!TryParseName<KvCacheDType>(kvCacheName, out var kvCache))
        {
            errors.Add($"--kv-cache must be float16 or float32, got '{kvCacheName}'.");
        }

        string kernelsName = parse.GetValue(Kernels)!;
        if (!TryParseName<KernelChoice>(kernelsName, out var kernels))
        {
            errors.Add($"--kernels must be auto or onnx, got '{kernelsName}'.");
        }

        int[] devices = ParseIntList(parse.GetValue(Devices)!, "--devices", 0, errors);
        var options = new RuntimeOptions
        {
            ModelPath = parse.GetValue(Model)!,
            ExecutionProvider = kind,
            Devices = devices.Length > 0 ? devices : [0],
            ExpertWorkers = parse.GetValue(Workers),
            IntraOpThreads = parse.GetValue(Threads),
            Routing = routing,
            QScale = parse.GetValue(QScale),
            ShareSessionResources = parse.GetValue(SharedSessions),
            LoadProgress = ConsoleLoadProgress.Instance,
            KvCacheDType = kvCache,
            Kernels = kernels,
        };
        if (change is not null)
        {
            options = change(options);
        }

        foreach (string error in options.Validate())
        {
            // Name the CLI flag rather than the option field where they differ.
            errors.Add(error.Replace("expertWorkers", "--workers", StringComparison.Ordinal).Replace("intraOpThreads", "--intra-op-threads", StringComparison.Ordinal).Replace("qScale", "--q-scale", StringComparison.Ordinal));
        }

        return options;
    }

    /// <summary>
    /// Runs a command's work after its flags are valid: a load or run failure prints "error: ..."
    /// and exits 2, a cancellation (Ctrl+C) prints "cancelled" and exits 130.
    /// </summary>
    public static int Run(Func<int> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        try
        {
            return work();
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidDataException or IOException or InvalidOperationException)
        {
            return CliErrors.Fail(ex.Message);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return 130;
        }
    }

    /// <summary>Prints which provider each device really uses (and why CUDA fell back) to stderr.</summary>
    public static void PrintDevices(MoeEngine engine)
    {
        foreach (var device in engine.Devices)
        {
            string line = $"device {device.DeviceId}: {device.ProviderUsed} ({device.ExpertsPlaced} expert graphs)";
            if (device.FellBack)
            {
                line += $"; {device.Requested} requested but unavailable, fell back to CPU: {FirstLine(device.FallbackReason)}";
            }

            Console.Error.WriteLine(line);
        }
    }

    private static string FirstLine(string? text) => text is null ? string.Empty : text.Split('\n')[0].Trim();
}
