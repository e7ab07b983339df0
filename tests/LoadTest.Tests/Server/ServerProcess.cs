using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MoeServe.LoadTest.Tests.Support;

namespace MoeServe.LoadTest.Tests.Server;

/// <summary>
/// The real server (src/Server's build output, same configuration as these tests) started as a
/// child process on a free loopback port, killed on dispose.
/// </summary>
internal sealed class ServerProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    public ServerProcess(string modelPath, string modelName)
    {
        Port = FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = RepositoryPaths.Root,
        };
        foreach (var a in new[] { ServerDll(), "--urls", BaseUrl, "--model", modelPath, "--model-name", modelName, "--workers", "1" })
        {
            start.ArgumentList.Add(a);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("could not start the server");
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Port { get; }

    public string BaseUrl => $"http://127.0.0.1:{Port}";

    /// <summary>What the server printed so far, for assertion messages.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }

        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.AppendLine(line);
        }
    }

    /// <summary>src/Server/bin/CONFIG/net10.0/linux-x64/MoeServe.Server.dll for the configuration these tests were built in.</summary>
    private static string ServerDll()
    {
        var parts = AppContext.BaseDirectory.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        var bin = Array.LastIndexOf(parts, "bin");
        var relative = string.Join('/', parts[(bin + 1)..]);
        var dll = RepositoryPaths.Of($"src/Server/bin/{relative}/MoeServe.Server.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"server build output not found at {dll}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
