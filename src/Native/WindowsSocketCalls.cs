using System;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using static NativeZcopy.Native.Interop.Ws2_32;

namespace NativeZcopy.Native;

/// <summary>
/// Windows's side of the gathering send: one non-overlapped <c>WSASend</c> over up to 1024 pieces and
/// <see cref="MaxBytesPerCall"/> bytes, on a non-blocking socket only.
/// Compiled everywhere, exercised only on Windows (not on the machines this was built on).
/// </summary>
/// <remarks>
/// .NET leaves its Windows sockets in blocking mode unless the caller sets <c>Socket.Blocking = false</c>,
/// and WSASend has no per-call flag to not block: on a blocking socket with a full send buffer (a peer that
/// does not read) it would hold the calling thread, out of reach of any cancellation token. So the caller
/// gathers only on a non-blocking socket (<see cref="CanGather"/>), where a full buffer fails with
/// WSAEWOULDBLOCK and is waited for through .NET's own SendAsync, exactly as on Linux; a blocking socket's
/// pieces go through SendAsync one at a time, as on macOS. Not measured: these machines cannot run Windows.
/// </remarks>
internal static unsafe class WindowsSocketCalls
{
    /// <summary>
    /// Most bytes one call offers, and one wait through SendAsync carries. The Win32 docs give no limit, but
    /// single sends of 18 MB and more were reported to fail with WSAENOBUFS (cherrypy issue 909, pika issue 14;
    /// their fix sends 2 MiB at a time); 1 MiB stays well below that, and at over 100 µs of copying per MiB
    /// one more call per MiB costs nothing. Pieces longer than this go out over several calls.
    /// </summary>
    public const int MaxBytesPerCall = 1 << 20;

    /// <summary>
    /// True when <paramref name="socket"/> is non-blocking, so a WSASend on it returns WSAEWOULDBLOCK on a
    /// full buffer instead of holding the thread (see the remarks).
    /// </summary>
    public static bool CanGather(Socket socket) => !socket.Blocking;

    /// <summary>
    /// One <c>WSASend</c> of <paramref name="entries"/> (at most <see cref="MaxBuffersPerCall"/> and
    /// <see cref="MaxBytesPerCall"/>), the first starting <paramref name="firstOffset"/> bytes in. Bytes sent,
    /// or -1 with the Winsock error; <paramref name="requested"/> is the bytes this call offered.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    [SupportedOSPlatform("windows")]
    public static nint SendMessage(SafeHandle socket, ReadOnlySpan<BioVec> entries, int firstOffset, out int error, out nint requested)
    {
        int capacity = Math.Min(entries.Length, MaxBuffersPerCall);
        WSABUF* buffers = stackalloc WSABUF[capacity];
        int count = FillBuffers(entries, firstOffset, new Span<WSABUF>(buffers, capacity), out requested);
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

    /// <summary>
    /// Describes the start of <paramref name="entries"/> in <paramref name="buffers"/>, the first entry from
    /// <paramref name="firstOffset"/> on, and returns how many buffers one call offers; <paramref name="requested"/>
    /// is their bytes. A call offers at most <see cref="MaxBytesPerCall"/> bytes (so WSASend's DWORD count cannot
    /// wrap either): the first piece is cut to it, and a later one that does not fit waits for the next call.
    /// Platform-neutral, so it is tested on Linux.
    /// </summary>
    internal static int FillBuffers(ReadOnlySpan<BioVec> entries, int firstOffset, Span<WSABUF> buffers, out nint requested)
    {
        int count = Math.Min(entries.Length, buffers.Length);
        requested = 0;
        for (int i = 0; i < count; i++)
        {
            BioVec piece = entries[i];
            int length = piece.Length - (i == 0 ? firstOffset : 0);
            if (requested + length > MaxBytesPerCall)
            {
                if (i > 0)
                {
                    return i;
                }

                length = MaxBytesPerCall;
            }

            buffers[i].Pointer = piece.Address + (i == 0 ? firstOffset : 0);
            buffers[i].Length = (uint)length;
            requested += length;
        }

        return count;
    }

    /// <summary>Winsock error codes are <see cref="SocketError"/> values already.</summary>
    public static SocketError ToSocketError(int error) => error == WSAEWOULDBLOCK ? SocketError.WouldBlock : (SocketError)error;

    /// <summary>A <see cref="SocketException"/> naming the call and the Winsock error.</summary>
    public static SocketException Failure(int error, string context) =>
        new(error, $"WSASend failed with Winsock error {error} ({(SocketError)error}) {context}.");
}
