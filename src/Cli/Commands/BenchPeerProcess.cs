using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;

using MoeServe.Peer;

namespace MoeServe.Cli.Commands;

/// <summary>
/// bench's <c>--peer-process</c>: the peer (<see cref="BenchPeer"/>) in a child process, this same
/// program run with the hidden command <see cref="CommandName"/>, so that llama.cpp's threads, its
/// allocator and its loaded libraries are not in the process that times MoeServe. The rounds stay
/// interleaved: bench asks the child for one decode run at a time and waits for its answer, so the
/// two engines never run at once. Protocol, one line each over the child's stdin and stdout:
/// <c>ready\t{json}</c> (GGUF path and llama.cpp's feature line, after loading and a warm-up), then
/// per request <c>decode SEQUENCES PROMPT_TOKENS MAX_TOKENS</c> answered by <c>run\t{json}</c> (a
/// <see cref="PeerDecodeRun"/>) or <c>error\t{message}</c>; <c>quit</c> or end of input ends it.
/// Other stdout lines (a library's chatter) go to bench's stderr.
/// </summary>
internal sealed class BenchPeerProcess : IBenchPeerEngine
{
    /// <summary>The hidden command the child runs.</summary>
    public const string CommandName = "bench-peer-serve";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    private readonly Process _process;
    private readonly string _promptFile;
    private readonly int _promptCount;

    private BenchPeerProcess(Process process, string promptFile, int promptCount, PeerReady ready)
    {
        _process = process;
        _promptFile = promptFile;
        _promptCount = promptCount;
        GgufPath = ready.GgufPath;
        SystemInfo = ready.SystemInfo;
    }

    /// <inheritdoc />
    public string GgufPath { get; }

    /// <inheritdoc />
    public string SystemInfo { get; }

    /// <inheritdoc />
    public int? ProcessId => _process.Id;

    /// <summary>Starts the child and waits until it has loaded the peer and warmed it up on <paramref name="prompts"/>.</summary>
    /// <param name="modelDirectory">The model (the child writes its GGUF unless <paramref name="existingGguf"/>).</param>
    /// <param name="threads">The peer's threads.</param>
    /// <param name="existingGguf">A GGUF to run instead of writing one.</param>
    /// <param name="prompts">bench's prompt tokens; every later <see cref="Decode"/> must pass the same.</param>
    /// <param name="promptTokens">Prompt length, for the warm-up.</param>
    public static BenchPeerProcess Start(string modelDirectory, int threads, string? existingGguf, int[] prompts, int promptTokens)
    {
        string promptFile = Path.Combine(Path.GetTempPath(), "moeserve-peer-prompts-" + Guid.NewGuid().ToString("N") + ".txt");
        File.WriteAllText(promptFile, string.Join(',', prompts.Select(p => p.ToString(CultureInfo.InvariantCulture))));
        var (program, prefix) = SelfCommand();
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string arg in prefix.Concat([CommandName, "--model", modelDirectory, "--threads", threads.ToString(CultureInfo.InvariantCulture), "--prompts", promptFile, "--prompt-tokens", promptTokens.ToString(CultureInfo.InvariantCulture)]))
        {
            start.ArgumentList.Add(arg);
        }

        if (existingGguf is not null)
        {
            start.ArgumentList.Add("--gguf");
            start.ArgumentList.Add(existingGguf);
        }

        Process? process = null;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"could not start the peer process {program}.");
            string body = ReadReply(process, "ready");
            var ready = JsonSerializer.Deserialize<PeerReady>(body, Json) ?? throw new InvalidOperationException("the peer process sent an empty ready line.");
            return new BenchPeerProcess(process, promptFile, prompts.Length, ready);
        }
        catch
        {
            Stop(process);
            File.Delete(promptFile);
            throw;
        }
    }

    /// <inheritdoc />
    public PeerDecodeRun Decode(int sequences, int[] prompts, int promptTokens, int maxTokens, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        if (prompts.Length != _promptCount)
        {
            throw new ArgumentException($"the peer process holds {_promptCount} prompt tokens, not {prompts.Length}.", nameof(prompts));
        }

        cancellation.ThrowIfCancellationRequested();
        _process.StandardInput.WriteLine(string.Create(CultureInfo.InvariantCulture, $"decode {sequences} {promptTokens} {maxTokens}"));
        _process.StandardInput.Flush();
        return JsonSerializer.Deserialize<PeerDecodeRun>(ReadReply(_process, "run"), Json) ?? throw new InvalidOperationException("the peer process sent an empty run.");
    }

    public void Dispose()
    {
        Stop(_process);
        File.Delete(_promptFile);
    }

    /// <summary>The hidden child command.</summary>
    public static Command CreateCommand()
    {
        var model = new Option<string>("--model") { Required = true };
        var threads = new Option<int>("--threads") { Required = true };
        var promptFile = new Option<string>("--prompts") { Required = true };
        var promptTokens = new Option<int>("--prompt-tokens") { Required = true };
        var gguf = new Option<string?>("--gguf");
        var command = new Command(CommandName, "bench --peer-process's child: serves peer decode runs over stdin/stdout.") { Hidden = true };
        command.Options.Add(model);
        command.Options.Add(threads);
        command.Options.Add(promptFile);
        command.Options.Add(promptTokens);
        command.Options.Add(gguf);
        command.SetAction(parse => Serve(parse.GetValue(model)!, parse.GetValue(threads), parse.GetValue(promptFile)!, parse.GetValue(promptTokens), parse.GetValue(gguf)));
        return command;
    }

    private static int Serve(string modelDirectory, int threads, string promptFile, int promptTokens, string? existingGguf)
    {
        int[] prompts = File.ReadAllText(promptFile).Split(',').Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToArray();
        var output = Console.Out;
        try
        {
            using var peer = BenchPeer.Create(modelDirectory, threads, existingGguf);
            peer.Warm(prompts, promptTokens);
            output.WriteLine("ready\t" + JsonSerializer.Serialize(new PeerReady(peer.GgufPath, peer.SystemInfo), Json));
            output.Flush();
            while (Console.In.ReadLine() is { } line && line != "quit")
            {
                string[] parts = line.Split(' ');
                try
                {
                    if (parts.Length != 4 || parts[0] != "decode")
                    {
                        throw new InvalidOperationException($"unknown request '{line}'.");
                    }

                    var run = peer.Decode(Int(parts[1]), prompts, Int(parts[2]), Int(parts[3]), CancellationToken.None);
                    output.WriteLine("run\t" + JsonSerializer.Serialize(run, Json));
                }
                catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException)
                {
                    output.WriteLine("error\t" + OneLine(e.Message));
                }

                output.Flush();
            }

            return 0;
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or ArgumentException or InvalidDataException)
        {
            output.WriteLine("error\t" + OneLine(e.Message));
            output.Flush();
            return 2;
        }
    }

    private static int Int(string text) => int.Parse(text, NumberStyles.Integer, CultureInfo.InvariantCulture);

    private static string OneLine(string text) => text.ReplaceLineEndings(" | ");

    // Lines until one that starts with kind + tab; an error line or the child's end throws.
    private static string ReadReply(Process process, string kind)
    {
        while (process.StandardOutput.ReadLine() is { } line)
        {
            if (line.StartsWith(kind + "\t", StringComparison.Ordinal))
            {
                return line[(kind.Length + 1)..];
            }

            if (line.StartsWith("error\t", StringComparison.Ordinal))
            {
                throw new InvalidOperationException("peer process: " + line[6..]);
            }

            Console.Error.WriteLine(line);
        }

        process.WaitForExit();
        throw new InvalidOperationException($"the peer process ended (exit code {process.ExitCode}) before sending '{kind}'.");
    }

    private static void Stop(Process? process)
    {
        if (process is null)
        {
            return;
        }

        try
        {
            if (!process.HasExited)
            {
                process.StandardInput.WriteLine("quit");
                process.StandardInput.Close();
                if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
                {
                    process.Kill(entireProcessTree: true);
                }
            }
        }
        catch (IOException)
        {
            // The child is gone already (its stdin closed under us).
        }
        finally
        {
            process.Dispose();
        }
    }

    // This program as a command line: the apphost itself, or `dotnet MoeServe.Cli.dll` when run through the muxer.
    private static (string Program, string[] Prefix) SelfCommand()
    {
        string program = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell this program's path to start the peer process.");
        string? entry = Assembly.GetEntryAssembly()?.Location;
        return Path.GetFileNameWithoutExtension(program).Equals("dotnet", StringComparison.OrdinalIgnoreCase) && !string.IsNullOrEmpty(entry)
            ? (program, [entry])
            : (program, []);
    }

    private sealed record PeerReady(string GgufPath, string SystemInfo);
}
