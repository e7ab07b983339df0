namespace MoeServe.Runtime;

/// <summary>How routed tokens reach their experts.</summary>
public enum ExpertDispatchMode
{
    /// <summary>One Run per expert over all the step's tokens routed to it (the product's point).</summary>
    Batched,

    /// <summary>One Run per (token, expert) pair: the per-token dispatch baseline that <c>bench</c> compares against.</summary>
    PerToken,
}
