namespace MoeServe.Server.Options;

/// <summary>Short command-line switches mapped onto configuration keys (--model models/x is --MoeServe:ModelPath models/x).</summary>
public static class CommandLineSwitches
{
    /// <summary>Switch to configuration key map for <c>AddCommandLine</c>.</summary>
    public static IDictionary<string, string> Map { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["--model"] = "MoeServe:ModelPath",
        ["--model-name"] = "MoeServe:ModelName",
        ["--provider"] = "MoeServe:ExecutionProvider",
        ["--workers"] = "MoeServe:Workers",
        ["--routing"] = "MoeServe:RoutingPolicy",
        ["--max-batch"] = "MoeServe:MaxBatchSequences",
        ["--max-step-tokens"] = "MoeServe:MaxStepTokens",
        ["--prefill-chunk"] = "MoeServe:PrefillChunkTokens",
        ["--max-waiting"] = "MoeServe:MaxWaitingRequests",
        ["--context"] = "MoeServe:ContextLength",
        ["--timeout"] = "MoeServe:RequestTimeoutSeconds",
        ["--port"] = "MoeServe:Port",
    };
}
