namespace MoeServe.Server.Options;

/// <summary>
/// The server's command line: short switches mapped onto configuration keys (--model models/x is
/// --MoeServe:ModelPath models/x), and the check that every argument is one the server knows, since
/// the configuration binder would otherwise ignore a mistyped switch without a word.
/// </summary>
public static class CommandLineSwitches
{
    // Host settings ASP.NET Core reads from the command line, by the names its documentation gives.
    private static readonly string[] HostKeys = ["urls", "http_ports", "https_ports", "environment", "contentRoot", "applicationName", "webroot", "AllowedHosts"];

    // Sections whose keys are checked by their owners (ServerOptionsReader for MoeServe) or are open-ended.
    private static readonly string[] Sections = [ServerOptions.SectionName, "Logging", "Kestrel"];

    /// <summary>Switch to configuration key map for <c>AddCommandLine</c>.</summary>
    public static IDictionary<string, string> Map { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["--model"] = "MoeServe:ModelPath",
        ["--model-name"] = "MoeServe:ModelName",
        ["--provider"] = "MoeServe:ExecutionProvider",
        ["--workers"] = "MoeServe:Workers",
        ["--routing"] = "MoeServe:RoutingPolicy",
        ["--q-scale"] = "MoeServe:QScale",
        ["--shared-sessions"] = "MoeServe:ShareSessionResources",
        ["--kv-cache"] = "MoeServe:KvCacheDType",
        ["--kernels"] = "MoeServe:Kernels",
        ["--max-batch"] = "MoeServe:MaxBatchSequences",
        ["--max-step-tokens"] = "MoeServe:MaxStepTokens",
        ["--prefill-chunk"] = "MoeServe:PrefillChunkTokens",
        ["--max-waiting"] = "MoeServe:MaxWaitingRequests",
        ["--context"] = "MoeServe:ContextLength",
        ["--timeout"] = "MoeServe:RequestTimeoutSeconds",
        ["--drain-timeout"] = "MoeServe:DrainTimeoutSeconds",
        ["--shutdown-grace"] = "MoeServe:ShutdownGraceSeconds",
        ["--port"] = "MoeServe:Port",
    };

    /// <summary>
    /// One message per argument the server does not know (an unknown switch, a switch without its
    /// value, a stray word), parsed the way the command-line configuration provider parses them:
    /// <c>--key value</c>, <c>--key=value</c>, <c>/key value</c>.
    /// </summary>
    public static IReadOnlyList<string> FindProblems(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var problems = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            var prefix = arg.StartsWith("--", StringComparison.Ordinal) ? "--" : arg.StartsWith('-') || arg.StartsWith('/') ? arg[..1] : null;
            if (prefix is null)
            {
                problems.Add($"'{arg}': unexpected argument; switches take the form --name value or --name=value.");
                continue;
            }

            var equals = arg.IndexOf('=', StringComparison.Ordinal);
            var name = equals < 0 ? arg : arg[..equals];
            if (equals < 0)
            {
                if (i + 1 >= args.Count)
                {
                    problems.Add($"'{name}': needs a value.");
                    continue;
                }

                i++;
            }

            if (!IsKnown(name, prefix))
            {
                problems.Add($"'{name}': unknown switch; known switches are {KnownSwitches}.");
            }
        }

        return problems;
    }

    private static string KnownSwitches =>
        string.Join(", ", Map.Keys.Concat(HostKeys.Select(k => "--" + k)))
        + " and any --MoeServe:<Option>, --Logging:<Key> or --Kestrel:<Key>";

    private static bool IsKnown(string name, string prefix)
    {
        if (prefix == "--" && Map.ContainsKey(name))
        {
            return true;
        }

        // A short '-x' switch must be mapped (the configuration provider throws on any other).
        if (prefix == "-")
        {
            return false;
        }

        var key = name[prefix.Length..];
        // A section's own name appears too, with an empty value, when a host flattens its settings into arguments.
        return HostKeys.Contains(key, StringComparer.OrdinalIgnoreCase)
            || Sections.Any(section => key.Equals(section, StringComparison.OrdinalIgnoreCase)
                || (key.Length > section.Length + 1 && key.StartsWith(section, StringComparison.OrdinalIgnoreCase) && key[section.Length] == ':'));
    }
}
