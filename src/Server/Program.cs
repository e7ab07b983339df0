using MoeServe.Server;

return await ServerApp.RunAsync(args).ConfigureAwait(false);

/// <summary>The entry point (public so WebApplicationFactory can find it).</summary>
public partial class Program;
