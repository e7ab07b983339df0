using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using MoeServe.LoadTest.Tests.Support;

namespace MoeServe.LoadTest.Tests.Server;

/// <summary>
/// The real server (src/Server's build output, same configuration as these tests) started as a
/// child process on a loopback port the OS picks as the server binds (port 0), killed on dispose.
/// </summary>
internal sealed partial class ServerProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private readonly TaskCompletionSource<int> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ServerProcess(string modelPath, string modelName)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = RepositoryPaths.Root,
        };
        foreach (var a in new[] { ServerDll(), "--urls", "http://127.0.0.1:0", "--model", modelPath, "--model-name", modelName, "--workers", "1" })
        {
            start.ArgumentList.Add(a);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("could not start the server");
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        _process.EnableRaisingEvents = true;
        _process.Exited += (_, _) => _listening.TrySetException(new InvalidOperationException("the server exited before listening:\n" + Log));
    }

    /// <summary>Starts the server and waits for its "Now listening on" line, which names the port it bound.</summary>
    public static async Task<ServerProcess> StartAsync(string modelPath, string modelName)
    {
        var server = new ServerProcess(modelPath, modelName);
        try
        {
            server.Port = await server._listening.Task.WaitAsync(TimeSpan.FromMinutes(2));
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    public int Port { get; private set; }

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

        // ASP.NET Core's lifetime log: "Now listening on: http://127.0.0.1:PORT" with the bound port.
        var match = ListeningLine().Match(line);
        if (match.Success)
        {
            _listening.TrySetResult(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
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

    [GeneratedRegex(@"Now listening on: http://127\.0\.0\.1:(\d+)")]
    private static partial Regex ListeningLine();
}
