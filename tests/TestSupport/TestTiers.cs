namespace MoeServe.TestSupport;

/// <summary>
/// The xunit trait that splits the suite into tiers. Tests that start programs from outside the
/// repository (Prometheus, Chromium, Node) carry <c>[Trait(TestTiers.Name, TestTiers.External)]</c>,
/// so the fast tier runs alone with <c>dotnet test MoeServe.sln -c Release --filter "Tier!=External"</c>.
/// </summary>
public static class TestTiers
{
    /// <summary>The trait's name.</summary>
    public const string Name = "Tier";

    /// <summary>Needs a program installed outside the repository (tests/run.sh installs them).</summary>
    public const string External = "External";
}
