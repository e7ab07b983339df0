using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using MoeServe.Server.Api;
using MoeServe.Server.Dashboard;
using MoeServe.Server.Engine;
using MoeServe.Server.Health;
using MoeServe.Server.Metrics;
using MoeServe.Server.Options;
using MoeServe.Server.Scheduling;

namespace MoeServe.Server;

/// <summary>Builds and runs the web application.</summary>
public static class ServerApp
{
    /// <summary>Exit code when the options are invalid.</summary>
    public const int InvalidOptionsExitCode = 2;

    /// <summary>Exit code when the model fails to load.</summary>
    public const int LoadFailedExitCode = 3;

    /// <summary>Runs the server until shutdown; returns the process exit code.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);

        // `dotnet run --project src/Server` from the repository root makes the root the content root;
        // the appsettings.json copied next to the program is then the lowest-priority source.
        var shipped = Path.Combine(AppContext.BaseDirectory, "appsettings.json");
        if (File.Exists(shipped) && !File.Exists(Path.Combine(builder.Environment.ContentRootPath, "appsettings.json")))
        {
            builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Json.JsonConfigurationSource
            {
                Path = "appsettings.json",
                Optional = true,
                FileProvider = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(AppContext.BaseDirectory),
            });
        }
        builder.Configuration.AddCommandLine(args, CommandLineSwitches.Map);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["http_ports"]))
        {
            var port = int.TryParse(builder.Configuration[$"{ServerOptions.SectionName}:Port"], NumberStyles.None, CultureInfo.InvariantCulture, out var p) ? p : ServerDefaults.Port;
            builder.WebHost.UseUrls($"http://localhost:{port}");
        }

        ConfigureServices(builder.Services);
        var app = builder.Build();

        // Validate the final configuration (including anything a test host added) before serving.
        var errors = new List<string>();
        var options = ServerOptionsReader.Read(app.Configuration, errors);
        ServerOptionsValidator.Validate(options, errors);
        if (errors.Count > 0)
        {
            await Console.Error.WriteLineAsync($"moeserve: {errors.Count} configuration error(s):").ConfigureAwait(false);
            foreach (var error in errors)
            {
                await Console.Error.WriteLineAsync("  - " + error).ConfigureAwait(false);
            }

            return InvalidOptionsExitCode;
        }

        ServerEndpoints.Map(app);
        var state = app.Services.GetRequiredService<ServerState>();
        await app.RunAsync().ConfigureAwait(false);
        return state.Phase == ServerPhase.Failed ? LoadFailedExitCode : 0;
    }

    /// <summary>Registers every service of the server.</summary>
    public static void ConfigureServices(IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => ServerOptionsReader.Read(sp.GetRequiredService<IConfiguration>(), []));
        services.AddSingleton<ServerState>();
        services.AddSingleton<ServerMetrics>();
        services.AddSingleton(sp => new DashboardRecorder(sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ServerOptions>().DashboardHistorySeconds));
        services.AddSingleton<ModelHost>();
        services.AddSingleton<BatchScheduler>();
        services.AddHostedService(sp => sp.GetRequiredService<BatchScheduler>());
        services.AddSingleton<GenerationHandler>();
        services.AddOptions<KestrelServerOptions>().Configure<ServerOptions>((kestrel, options) => kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes);
        services.AddOptions<HostOptions>().Configure<ServerOptions>((host, options) => host.ShutdownTimeout = TimeSpan.FromSeconds(options.DrainTimeoutSeconds + 5));
    }
}
