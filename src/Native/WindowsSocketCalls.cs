using System;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using static NativeZcopy.Native.Interop.Ws2_32;

namespace NativeZcopy.Native;

/// <summary>
/// Windows's side of the gathering send: one non-overlapped <c>WSASend</c> over up to 1024 pieces.
/// Compiled everywhere, exercised only on Windows (not on the machines this was built on).
/// </summary>
/// <remarks>
/// .NET leaves its Windows sockets in blocking mode unless the caller sets <c>Socket.Blocking = false</c>;
/// a blocking socket's WSASend returns once Winsock has taken the bytes, and while the send buffer is full
/// (a peer that does not read) it blocks the calling thread, which no cancellation token reaches. On a
/// non-blocking socket it fails with WSAEWOULDBLOCK instead, and the caller waits through .NET's own
/// SendAsync, exactly as on Linux: a server should set <c>Blocking = false</c> (the README says so). Not
/// measured: these machines cannot run Windows.
/// </remarks>
[SupportedOSPlatform("windows")]
internal static unsafe class WindowsSocketCalls
{
    /// <summary>
    /// One <c>WSASend</c> of <paramref name="entries"/> (at most <see cref="MaxBuffersPerCall"/>), the first
    /// starting <paramref name="firstOffset"/> bytes in. Bytes sent, or -1 with the Winsock error;
    /// <paramref name="requested"/> is the bytes this call offered.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    public static nint SendMessage(SafeHandle socket, ReadOnlySpan<BioVec> entries, int firstOffset, out int error, out nint requested)
    {
        int count = Math.Min(entries.Length, MaxBuffersPerCall);
        WSABUF* buffers = stackalloc WSABUF[count];
        requested = 0;
        for (int i = 0; i < count; i++)
        {
            BioVec piece = entries[i];
            int skip = i == 0 ? firstOffset : 0;

            // WSASend reports the bytes sent in a DWORD: a call offers at most int.MaxValue bytes, so the count
            // can neither wrap past 4 GiB nor overflow the nint the caller adds it to on 32-bit. A piece is at
            // most int.MaxValue bytes, so the first always fits; the rest go in the next call.
            if (i > 0 && (long)requested + (piece.Length - skip) > int.MaxValue)
            {
                count = i;
                break;
            }

            buffers[i].Pointer = piece.Address + skip;
            buffers[i].Length = (uint)(piece.Length - skip);
            requested += piece.Length - skip;
        }

        bool added = false;
        try
        {
            socket.DangerousAddRef(ref added);
            uint sent = 0;
            int result = WSASend(socket.DangerousGetHandle(), buffers, (uint)count, &sent, 0, 0, 0);
            error = result == SOCKET_ERROR ? Marshal.GetLastPInvokeError() : 0;
            return result == SOCKET_ERROR ? -1 : (nint)sent;
        }
        finally
        {
            if (added)
            {
                socket.DangerousRelease();
            }
        }
    }

    /// <summary>Winsock error codes are <see cref="SocketError"/> values already.</summary>
    public static SocketError ToSocketError(int error) => error == WSAEWOULDBLOCK ? SocketError.WouldBlock : (SocketError)error;

    /// <summary>A <see cref="SocketException"/> naming the call and the Winsock error.</summary>
    public static SocketException Failure(int error, string context) =>
        new(error, $"WSASend failed with Winsock error {error} ({(SocketError)error}) {context}.");
}
