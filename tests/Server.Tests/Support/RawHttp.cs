using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MoeServe.Server.Tests.Support;

/// <summary>How a raw client ends a request it did not finish sending.</summary>
public enum Hangup
{
    /// <summary>Shut down the sending side (FIN) and still read the answer.</summary>
    HalfClose,

    /// <summary>Close the socket (FIN) without reading.</summary>
    Close,

    /// <summary>Reset the connection (RST, linger 0).</summary>
    Reset,
}

/// <summary>HTTP/1.1 over a bare socket, for requests no HttpClient would send (a body cut mid-way).</summary>
public static class RawHttp
{
    /// <summary>Sends <paramref name="head"/> (request line and headers, without the blank line) and <paramref name="body"/>, then hangs up (after <c>pause</c>, so the server is already waiting in the body read).</summary>
    /// <returns>What the server sent back before closing (empty unless <see cref="Hangup.HalfClose"/>, and empty if the server reset the connection).</returns>
    public static async Task<string> SendAndHangUpAsync(int port, string head, byte[] body, Hangup hangup, TimeSpan timeout, TimeSpan pause = default)
    {
        using var cts = new CancellationTokenSource(timeout);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token);
        await socket.SendAsync(Encoding.ASCII.GetBytes(head + "\r\n\r\n"), SocketFlags.None, cts.Token);
        if (body.Length > 0)
        {
            await socket.SendAsync(body, SocketFlags.None, cts.Token);
        }

        if (pause > TimeSpan.Zero)
        {
            // Let the server start the request and wait in the body read before the hang-up arrives.
            await Task.Delay(pause, cts.Token);
        }

        switch (hangup)
        {
            case Hangup.Reset:
                socket.LingerState = new LingerOption(true, 0);
                socket.Close();
                return "";
            case Hangup.Close:
                socket.Close();
                return "";
        }

        socket.Shutdown(SocketShutdown.Send);
        var received = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                if (read == 0)
                {
                    break;
                }

                received.Write(buffer, 0, read);
            }
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            // The server may drop a connection whose request can never complete instead of answering it.
        }

        return Encoding.UTF8.GetString(received.ToArray());
    }
}
