namespace MoeServe.Server.Hosting;

/// <summary>The server's process exit codes.</summary>
public static class ExitCodes
{
    /// <summary>Served and shut down normally.</summary>
    public const int Success = 0;

    /// <summary>The options, the command line or the listen address are unusable.</summary>
    public const int InvalidConfiguration = 2;

    /// <summary>The model directory could not be loaded.</summary>
    public const int ModelLoadFailed = 3;
}
