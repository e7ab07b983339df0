using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MoeServe.Runtime.Experts;
using MoeServe.Server.Engine;
using MoeServe.Server.Scheduling;

namespace MoeServe.Server.Tests.Support;

/// <summary>The server on the tiny model, in-memory (TestServer) or on real Kestrel on 127.0.0.1.</summary>
public sealed class ServerFactory : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string> _settings;
    private readonly bool _kestrel;
    private readonly ILoggerProvider? _logs;

    /// <param name="settings">Configuration overrides.</param>
    /// <param name="kestrel">Listen on a real socket instead of the in-memory TestServer.</param>
    /// <param name="logs">An extra logger provider (tests that assert what the server logs).</param>
    public ServerFactory(Dictionary<string, string>? settings = null, bool kestrel = false, ILoggerProvider? logs = null)
    {
        _logs = logs;
        _settings = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["MoeServe:ModelPath"] = TinyServerModel.Path,
            ["MoeServe:MaxBatchSequences"] = "64",
            ["MoeServe:MaxStepTokens"] = "256",
            ["MoeServe:MaxWaitingRequests"] = "128",
            ["MoeServe:Workers"] = "2",
            ["MoeServe:DrainTimeoutSeconds"] = "10",
            // No grace period: disposing a test's server should not wait for a load balancer.
            ["MoeServe:ShutdownGraceSeconds"] = "0",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings ?? [])
        {
            _settings[key] = value;
        }

        _kestrel = kestrel;
        if (kestrel)
        {
            // Port 0: the OS picks a free port as Kestrel binds. Probing for a free port first and binding
            // it later lets another fixture take it in between.
            UseKestrel(options => options.Listen(IPAddress.Loopback, 0));
        }
    }

    /// <summary>The fault-injection seam passed to the runtime.</summary>
    public EngineGate Gate { get; } = new();

    /// <summary>Sees client aborts as the server sees them.</summary>
    public AbortObserver Aborts { get; } = new();

    /// <summary>The port Kestrel bound (starts the server); 0 for the in-memory server.</summary>
    public int Port
    {
        get
        {
            if (!_kestrel)
            {
                return 0;
            }

            StartServer();
            var addresses = Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses
                ?? throw new InvalidOperationException("Kestrel reports no addresses.");
            return new Uri(addresses.Single()).Port;
        }
    }

    /// <summary>http://127.0.0.1:PORT/ when on Kestrel.</summary>
    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    public ModelHost Model => Services.GetRequiredService<ModelHost>();

    public BatchScheduler Scheduler => Services.GetRequiredService<BatchScheduler>();

    /// <summary>Waits until readiness says ready (model loaded and warmed up).</summary>
    public async Task<HttpClient> CreateReadyClientAsync()
    {
        var client = _kestrel ? new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) } : CreateClient();

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            using var response = await client.GetAsync("/health/ready");
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return client;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("The server never became ready: " + await response.Content.ReadAsStringAsync());
            }

            await Task.Delay(20);
        }
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }

        builder.ConfigureServices(services =>
        {
            services.AddSingleton<IExpertFaultInjector>(Gate);
            services.AddSingleton<IStartupFilter>(Aborts);
        });
        if (_logs is not null)
        {
            builder.ConfigureLogging(logging => logging.AddProvider(_logs));
        }
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            Gate.Dispose();
        }
    }
}
