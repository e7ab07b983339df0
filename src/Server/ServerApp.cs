using System.Globalization;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using MoeServe.Server.Api;
using MoeServe.Server.Dashboard;
using MoeServe.Server.Hosting;
using MoeServe.Server.Scheduling;

namespace MoeServe.Server;

/// <summary>Builds and runs the web application.</summary>
public static class ServerApp
{
    /// <summary>Runs the server until shutdown; returns the process exit code (<see cref="ExitCodes"/>).</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);

        // Checked before the builder sees them: it throws on an unmapped '-x' and ignores an unknown '--x'.
        var argumentProblems = CommandLineSwitches.FindProblems(args);
        if (argumentProblems.Count > 0)
        {
            return await ReportConfigurationErrorsAsync(argumentProblems).ConfigureAwait(false);
        }

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

        var startLog = new StartupLogFilter();
        builder.Logging.AddFilter(StartupLogFilter.Category, startLog.IsEnabled);
        ConfigureServices(builder.Services);
        try
        {
            // Building resolves HostOptions, which needs ServerOptions: validation can fail here already.
            await using var app = builder.Build();
            ServerEndpoints.Map(app);
            app.Lifetime.ApplicationStarted.Register(startLog.Started);

            // The host validates the options first, then starts hosted services in registration
            // order and Kestrel last: the model is loaded and warmed up (ModelHost) before the port is bound.
            await app.RunAsync().ConfigureAwait(false);
            return ExitCodes.Success;
        }
        catch (OptionsValidationException e)
        {
            // ValidateOnStart: the final configuration, including anything a test host added.
            return await ReportConfigurationErrorsAsync([.. e.Failures]).ConfigureAwait(false);
        }
        catch (StartupException e)
        {
            return await ReportStartupFailureAsync(e.Message, e.ExitCode).ConfigureAwait(false);
        }
        catch (IOException e) when (e.InnerException is AddressInUseException)
        {
            return await ReportStartupFailureAsync($"cannot listen: {e.Message} Stop the other process or choose another port with --port or --urls.", ExitCodes.InvalidConfiguration).ConfigureAwait(false);
        }
        catch (IOException e) when (!startLog.HasStarted)
        {
            return await ReportStartupFailureAsync($"cannot listen: {e.Message}", ExitCodes.InvalidConfiguration).ConfigureAwait(false);
        }
    }

    /// <summary>Registers every service of the server.</summary>
    public static void ConfigureServices(IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddServerOptions();
        services.AddSingleton<ServerState>();
        services.AddSingleton<ServerMetrics>();
        services.AddSingleton<InFlightRequests>();
        services.AddSingleton(sp => new DashboardRecorder(sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ServerOptions>().DashboardHistorySeconds));

        // Order matters: hosted services start in this order (all before Kestrel) and stop in reverse.
        services.AddSingleton<ModelHost>();
        services.AddHostedService(sp => sp.GetRequiredService<ModelHost>());
        services.AddSingleton<BatchScheduler>();
        services.AddHostedService(sp => sp.GetRequiredService<BatchScheduler>());
        services.AddHostedService<ShutdownCoordinator>();

        services.AddSingleton<GenerationHandler>();
        services.AddSingleton<TokenizeHandler>();
        services.AddOptions<KestrelServerOptions>().Configure<ServerOptions>((kestrel, options) => kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes);
        services.AddOptions<HostOptions>().Configure<ServerOptions>((host, options) => host.ShutdownTimeout = ShutdownCoordinator.HostShutdownTimeout(options));
    }

    private static async Task<int> ReportConfigurationErrorsAsync(IReadOnlyList<string> errors)
    {
        await Console.Error.WriteLineAsync($"moeserve: {errors.Count} configuration error(s):").ConfigureAwait(false);
        foreach (var error in errors)
        {
            await Console.Error.WriteLineAsync("  - " + error).ConfigureAwait(false);
        }

        return ExitCodes.InvalidConfiguration;
    }

    private static async Task<int> ReportStartupFailureAsync(string message, int exitCode)
    {
        await Console.Error.WriteLineAsync("moeserve: " + message).ConfigureAwait(false);
        return exitCode;
    }

    /// <summary>
    /// Until the host has started, drops the host's own error entry for a failed start ("Hosting
    /// failed to start" with the whole stack trace): RunAsync reports that failure as one line.
    /// The rule replaces the configured level for this one category, at Information.
    /// </summary>
    private sealed class StartupLogFilter
    {
        public const string Category = "Microsoft.Extensions.Hosting.Internal.Host";
        private volatile bool _started;

        public bool HasStarted => _started;

        public void Started() => _started = true;

        public bool IsEnabled(LogLevel level) => level >= LogLevel.Information && (_started || level < LogLevel.Error);
    }
}
