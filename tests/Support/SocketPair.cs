using System;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;

namespace NativeZcopy.Tests.Support;

/// <summary>The two kinds of stream socket the send tests run over.</summary>
public enum StreamKind
{
    /// <summary>TCP over 127.0.0.1.</summary>
    Tcp,

    /// <summary>A Unix-domain stream socket in the temp directory.</summary>
    Unix,
}

/// <summary>A connected pair of real stream sockets: <see cref="Sender"/> writes, <see cref="Receiver"/> reads.</summary>
internal sealed class SocketPair : IDisposable
{
    private readonly string? _path;

    private SocketPair(Socket sender, Socket receiver, string? path)
    {
        Sender = sender;
        Receiver = receiver;
        _path = path;
    }

    public Socket Sender { get; }

    public Socket Receiver { get; }

    /// <summary>
    /// Connects a pair. Buffer sizes, when given, are set before connecting so the TCP window honours them.
    /// </summary>
    public static async Task<SocketPair> ConnectAsync(StreamKind kind, int sendBuffer = 0, int receiveBuffer = 0)
    {
        string? path = kind == StreamKind.Unix ? Path.Combine(Path.GetTempPath(), $"nzc-{Guid.NewGuid():N}.sock") : null;
        EndPoint bindTo = path is null ? new IPEndPoint(IPAddress.Loopback, 0) : new UnixDomainSocketEndPoint(path);
        ProtocolType protocol = path is null ? ProtocolType.Tcp : ProtocolType.Unspecified;
        using var listener = new Socket(bindTo.AddressFamily, SocketType.Stream, protocol);
        if (receiveBuffer > 0)
        {
            listener.ReceiveBufferSize = receiveBuffer;
        }

        listener.Bind(bindTo);
        listener.Listen(1);
        var sender = new Socket(bindTo.AddressFamily, SocketType.Stream, protocol);
        if (sendBuffer > 0)
        {
            sender.SendBufferSize = sendBuffer;
        }

        if (path is null)
        {
            sender.NoDelay = true;
        }

        Task<Socket> accepted = listener.AcceptAsync();
        await sender.ConnectAsync(listener.LocalEndPoint!).ConfigureAwait(false);
        Socket receiver = await accepted.ConfigureAwait(false);
        if (receiveBuffer > 0)
        {
            receiver.ReceiveBufferSize = receiveBuffer;
        }

        return new SocketPair(sender, receiver, path);
    }

    /// <summary>Reads exactly <paramref name="length"/> bytes, pausing <paramref name="pauseEvery"/> reads if asked.</summary>
    public async Task<byte[]> ReadExactlyAsync(long length, int chunk = 64 * 1024, int pauseEvery = 0, CancellationToken cancellationToken = default)
    {
        byte[] buffer = new byte[length];
        int read = 0;
        int reads = 0;
        while (read < length)
        {
            int n = await Receiver.ReceiveAsync(buffer.AsMemory(read, (int)Math.Min(chunk, length - read)), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new EndOfStreamException($"The sender closed after {read} of {length} bytes.");
            }

            read += n;
            if (pauseEvery > 0 && ++reads % pauseEvery == 0)
            {
                await Task.Delay(1, cancellationToken).ConfigureAwait(false);
            }
        }

        return buffer;
    }

    /// <summary>Sends a reset instead of a FIN: linger on, zero timeout, then close.</summary>
    public void ResetReceiver()
    {
        Receiver.LingerState = new LingerOption(true, 0);
        Receiver.Close();
    }

    public void Dispose()
    {
        Sender.Dispose();
        Receiver.Dispose();
        if (_path is not null)
        {
            File.Delete(_path);
        }
    }
}
