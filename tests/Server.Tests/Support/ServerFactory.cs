using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting;
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
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings ?? [])
        {
            _settings[key] = value;
        }

        if (kestrel)
        {
            Port = FreePort();
            UseKestrel(options => options.Listen(IPAddress.Loopback, Port));
        }
    }

    /// <summary>The fault-injection seam passed to the runtime.</summary>
    public EngineGate Gate { get; } = new();

    /// <summary>The Kestrel port (0 for the in-memory server).</summary>
    public int Port { get; }

    /// <summary>http://127.0.0.1:PORT/ when on Kestrel.</summary>
    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    public ModelHost Model => Services.GetRequiredService<ModelHost>();

    public BatchScheduler Scheduler => Services.GetRequiredService<BatchScheduler>();

    /// <summary>Waits until readiness says ready (model loaded and warmed up).</summary>
    public async Task<HttpClient> CreateReadyClientAsync()
    {
        var client = Port == 0 ? CreateClient() : new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (Port != 0)
        {
            StartServer();
        }

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

        builder.ConfigureServices(services => services.AddSingleton<IExpertFaultInjector>(Gate));
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

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
