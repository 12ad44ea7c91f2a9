using System;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using static NativeZcopy.Native.Interop.Libc;

namespace NativeZcopy.Native;

/// <summary>
/// Linux's side of the gathering send: one <c>sendmsg</c> over up to IOV_MAX pieces, SO_ZEROCOPY, and
/// the zero-copy completions read back from the error queue. Every call is non-blocking for that call
/// (MSG_DONTWAIT), whatever O_NONBLOCK state .NET left the descriptor in, and holds a reference on the
/// socket's handle so the descriptor cannot be closed and reused under it.
/// </summary>
[SupportedOSPlatform("linux")]
internal static unsafe class LinuxSocketCalls
{
    /// <summary>
    /// One <c>sendmsg</c> of <paramref name="entries"/> (at most <see cref="IOV_MAX"/> of them are taken),
    /// the first starting <paramref name="firstOffset"/> bytes in. Returns the bytes the kernel took, or -1
    /// with errno in <paramref name="errno"/> (EAGAIN: the send buffer is full). <paramref name="requested"/>
    /// is the bytes this call offered, so a caller can tell a short send (the buffer filled up during the
    /// call) from one that took everything offered.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    public static nint SendMessage(SafeHandle socket, ReadOnlySpan<BioVec> entries, int firstOffset, bool zeroCopy, out int errno, out nint requested)
    {
        int count = Math.Min(entries.Length, IOV_MAX);

        // 16 B per entry, at most 16 KiB: small enough for any thread's stack, and it keeps the hot path
        // free of managed allocations. The pieces are native and never move, so nothing is pinned.
        IoVec* iov = stackalloc IoVec[count];
        requested = 0;
        for (int i = 0; i < count; i++)
        {
            BioVec piece = entries[i];
            int skip = i == 0 ? firstOffset : 0;
            iov[i].Base = piece.Address + skip;
            iov[i].Length = (nuint)(piece.Length - skip);
            requested += piece.Length - skip;
        }

        MsgHdr header = default;
        header.Iov = iov;
        header.IovLength = (nuint)count;
        int flags = MSG_DONTWAIT | MSG_NOSIGNAL | (zeroCopy ? MSG_ZEROCOPY : 0);

        bool added = false;
        try
        {
            socket.DangerousAddRef(ref added);
            int fd = (int)socket.DangerousGetHandle();
            while (true)
            {
                nint sent = SendMsg(fd, &header, flags);
                errno = sent < 0 ? Marshal.GetLastPInvokeError() : 0;
                if (sent >= 0 || errno != EINTR)
                {
                    return sent;
                }
            }
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
    /// Turns SO_ZEROCOPY on if it is off. True with <paramref name="wasOn"/> false when this call turned it
    /// on; true with <paramref name="wasOn"/> true when the socket already had it (someone else turned it on:
    /// another <see cref="Socket"/> object over the same socket, another process, or the application, and
    /// the kernel's zero-copy numbers may be in use); false with errno when the socket refuses it (a
    /// Unix-domain socket does). Callers in one process serialize their calls, so no two both see it off.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    public static bool TryEnableZeroCopy(SafeHandle socket, out bool wasOn, out int errno)
    {
        wasOn = false;
        bool added = false;
        try
        {
            socket.DangerousAddRef(ref added);
            int fd = (int)socket.DangerousGetHandle();
            int value = 0;
            uint length = sizeof(int);
            if (GetSockOpt(fd, SOL_SOCKET, SO_ZEROCOPY, &value, &length) == 0 && value != 0)
            {
                wasOn = true;
                errno = 0;
                return true;
            }

            // A kernel that cannot read the option (before 4.14) cannot set it either: the set below says why.
            int one = 1;
            bool enabled = SetSockOpt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(int)) == 0;
            errno = enabled ? 0 : Marshal.GetLastPInvokeError();
            return enabled;
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
    /// Reads one entry of the socket's error queue without waiting. For a zero-copy completion, gives the
    /// inclusive range of send numbers it completes and whether the kernel copied after all.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    public static ErrorQueueRead ReadErrorQueue(SafeHandle socket, out uint first, out uint last, out bool copied, out int errno)
    {
        first = 0;
        last = 0;
        copied = false;

        // One completion per read, but not alone when the application turned timestamps on for the socket:
        // the kernel puts SCM_TIMESTAMPNS (32 bytes) and SCM_TIMESTAMPING (64) ahead of IP_RECVERR (48 with
        // its offender address), 144 bytes on Linux 6.18, and cuts what does not fit. 256 leaves room for one
        // more control message; at 128 the sock_extended_err still fitted by 16 bytes, so the next would
        // have cost the completion, and with it the message's release until the socket closed.
        const int ControlSize = 256;
        byte* control = stackalloc byte[ControlSize];
        MsgHdr header = default;
        header.Control = control;
        header.ControlLength = ControlSize;

        bool added = false;
        nint read;
        try
        {
            socket.DangerousAddRef(ref added);
            int fd = (int)socket.DangerousGetHandle();
            do
            {
                read = RecvMsg(fd, &header, MSG_ERRQUEUE | MSG_DONTWAIT);
                errno = read < 0 ? Marshal.GetLastPInvokeError() : 0;
            }
            while (read < 0 && errno == EINTR);
        }
        finally
        {
            if (added)
            {
                socket.DangerousRelease();
            }
        }

        if (read < 0)
        {
            return errno == EAGAIN ? ErrorQueueRead.Empty : ErrorQueueRead.Failed;
        }

        return ParseErrorQueueEntry(control, header.ControlLength, header.Flags, out first, out last, out copied);
    }

    /// <summary>
    /// Reads the control data of one error-queue entry, <paramref name="used"/> bytes at
    /// <paramref name="control"/> with recvmsg's <paramref name="flags"/>: a zero-copy completion's range, or
    /// <see cref="ErrorQueueRead.Truncated"/> when the kernel cut the control data short (MSG_CTRUNC) and no
    /// completion is in what fitted, else <see cref="ErrorQueueRead.Other"/>.
    /// </summary>
    internal static ErrorQueueRead ParseErrorQueueEntry(byte* control, nuint used, int flags, out uint first, out uint last, out bool copied)
    {
        first = 0;
        last = 0;
        copied = false;

        // Walk the control messages as CMSG_FIRSTHDR/CMSG_NXTHDR do: each starts at a boundary of
        // sizeof(size_t) (CMSG_ALIGN), 8 bytes in a 64-bit process and 4 in a 32-bit one.
        nuint alignMask = (nuint)sizeof(nuint) - 1;
        nuint offset = 0;
        while (offset + (nuint)sizeof(CMsgHdr) <= used)
        {
            CMsgHdr* message = (CMsgHdr*)(control + offset);
            if (message->Length < (nuint)sizeof(CMsgHdr) || offset + message->Length > used)
            {
                break;
            }

            bool isError = (message->Level == SOL_IP && message->Type == IP_RECVERR)
                || (message->Level == SOL_IPV6 && message->Type == IPV6_RECVERR);
            if (isError && message->Length >= (nuint)(sizeof(CMsgHdr) + sizeof(SockExtendedErr)))
            {
                SockExtendedErr* error = (SockExtendedErr*)(message + 1);
                if (error->Origin == SO_EE_ORIGIN_ZEROCOPY && error->Errno == 0)
                {
                    first = error->Info;
                    last = error->Data;
                    copied = (error->Code & SO_EE_CODE_ZEROCOPY_COPIED) != 0;
                    return ErrorQueueRead.Completion;
                }
            }

            offset += (message->Length + alignMask) & ~alignMask;
        }

        return (flags & MSG_CTRUNC) != 0 ? ErrorQueueRead.Truncated : ErrorQueueRead.Other;
    }

    /// <summary>
    /// The <see cref="SocketError"/> .NET itself reports for a Linux errno from a send (the entries of its
    /// SocketErrorPal.Unix table a stream send or SO_ZEROCOPY can meet), so a caller that tests SocketErrorCode
    /// sees the same value from a gathering send as from Socket.SendAsync. One deviation: ENOMEM, which .NET
    /// reports as SocketError.SocketError, is NoBufferSpaceAvailable here.
    /// </summary>
    public static SocketError ToSocketError(int errno) => errno switch
    {
        EPERM or EACCES => SocketError.AccessDenied,
        EAGAIN => SocketError.WouldBlock,
        EINTR => SocketError.Interrupted,
        EBADF => SocketError.OperationAborted,
        EFAULT => SocketError.Fault,
        EINVAL => SocketError.InvalidArgument,
        ENOMEM or ENOBUFS => SocketError.NoBufferSpaceAvailable,
        EPIPE => SocketError.Shutdown,
        ENOTSOCK => SocketError.NotSocket,
        EMSGSIZE => SocketError.MessageSize,
        ENOPROTOOPT => SocketError.ProtocolOption,
        EOPNOTSUPP => SocketError.OperationNotSupported,
        ENETDOWN => SocketError.NetworkDown,
        ENETUNREACH => SocketError.NetworkUnreachable,
        ENETRESET => SocketError.NetworkReset,
        ECONNABORTED => SocketError.ConnectionAborted,
        ECONNRESET => SocketError.ConnectionReset,
        ENOTCONN => SocketError.NotConnected,
        ESHUTDOWN => SocketError.Disconnecting,
        ETIMEDOUT => SocketError.TimedOut,
        ECONNREFUSED => SocketError.ConnectionRefused,
        EHOSTDOWN => SocketError.HostDown,
        EHOSTUNREACH => SocketError.HostUnreachable,
        _ => SocketError.SocketError,
    };

    /// <summary>A <see cref="SocketException"/> naming the call, the errno and its text.</summary>
    public static SocketException Failure(string call, int errno, string context) =>
        new((int)ToSocketError(errno), $"{call} failed with errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)}) {context}.");
}
