namespace NativeZcopy.Native;

internal static partial class Interop
{
    /// <summary>
    /// The C library's calls and their Linux constants (x86-64, arm64 and 32-bit arm share them; only x86-64
    /// is tested). Only Linux takes these paths, but for <see cref="Mmap"/> and <see cref="Munmap"/>, which
    /// macOS calls with its own values (<see cref="OSX"/>).
    /// </summary>
    internal static partial class Libc
    {
        /// <summary>Most iovec entries one sendmsg accepts: UIO_MAXIOV in linux/uio.h (IOV_MAX in limits.h).</summary>
        internal const int IOV_MAX = 1024;

        /// <summary>Do not block this one call: MSG_DONTWAIT in linux/socket.h.</summary>
        internal const int MSG_DONTWAIT = 0x40;

        /// <summary>Read the socket's error queue: MSG_ERRQUEUE in linux/socket.h.</summary>
        internal const int MSG_ERRQUEUE = 0x2000;

        /// <summary>Return EPIPE instead of raising SIGPIPE on a closed stream: MSG_NOSIGNAL in linux/socket.h.</summary>
        internal const int MSG_NOSIGNAL = 0x4000;

        /// <summary>Send from the pages themselves and notify on the error queue: MSG_ZEROCOPY in linux/socket.h (4.14+).</summary>
        internal const int MSG_ZEROCOPY = 0x4000000;

        /// <summary>recvmsg's msg_flags: the control buffer was too small: MSG_CTRUNC in linux/socket.h.</summary>
        internal const int MSG_CTRUNC = 0x8;

        /// <summary>Socket-level options: SOL_SOCKET in asm-generic/socket.h.</summary>
        internal const int SOL_SOCKET = 1;

        /// <summary>Allow MSG_ZEROCOPY on this socket: SO_ZEROCOPY in asm-generic/socket.h (4.14+).</summary>
        internal const int SO_ZEROCOPY = 60;

        /// <summary>IPv4 control messages: SOL_IP (= IPPROTO_IP) in linux/socket.h.</summary>
        internal const int SOL_IP = 0;

        /// <summary>IPv6 control messages: SOL_IPV6 (= IPPROTO_IPV6) in linux/socket.h.</summary>
        internal const int SOL_IPV6 = 41;

        /// <summary>Error-queue control message type on IPv4: IP_RECVERR in linux/in.h.</summary>
        internal const int IP_RECVERR = 11;

        /// <summary>Error-queue control message type on IPv6: IPV6_RECVERR in linux/in6.h.</summary>
        internal const int IPV6_RECVERR = 25;

        /// <summary>sock_extended_err origin of a zero-copy completion: SO_EE_ORIGIN_ZEROCOPY in linux/errqueue.h.</summary>
        internal const byte SO_EE_ORIGIN_ZEROCOPY = 5;

        /// <summary>The kernel copied the bytes after all (e.g. loopback): SO_EE_CODE_ZEROCOPY_COPIED in linux/errqueue.h.</summary>
        internal const byte SO_EE_CODE_ZEROCOPY_COPIED = 1;

        /// <summary>Operation not permitted (a security module or netfilter refused the send): EPERM in asm-generic/errno-base.h.</summary>
        internal const int EPERM = 1;

        /// <summary>Interrupted system call: EINTR in asm-generic/errno-base.h.</summary>
        internal const int EINTR = 4;

        /// <summary>Bad file descriptor: EBADF in asm-generic/errno-base.h.</summary>
        internal const int EBADF = 9;

        /// <summary>Would block (EWOULDBLOCK is the same value): EAGAIN in asm-generic/errno-base.h.</summary>
        internal const int EAGAIN = 11;

        /// <summary>Out of memory: ENOMEM in asm-generic/errno-base.h.</summary>
        internal const int ENOMEM = 12;

        /// <summary>Permission denied (a security module refused the send): EACCES in asm-generic/errno-base.h.</summary>
        internal const int EACCES = 13;

        /// <summary>Bad address: EFAULT in asm-generic/errno-base.h.</summary>
        internal const int EFAULT = 14;

        /// <summary>Invalid argument: EINVAL in asm-generic/errno-base.h.</summary>
        internal const int EINVAL = 22;

        /// <summary>The stream was shut down for writing: EPIPE in asm-generic/errno-base.h.</summary>
        internal const int EPIPE = 32;

        /// <summary>Not a socket: ENOTSOCK in asm-generic/errno.h.</summary>
        internal const int ENOTSOCK = 88;

        /// <summary>Message too long: EMSGSIZE in asm-generic/errno.h.</summary>
        internal const int EMSGSIZE = 90;

        /// <summary>Unknown socket option: ENOPROTOOPT in asm-generic/errno.h.</summary>
        internal const int ENOPROTOOPT = 92;

        /// <summary>Operation not supported on this socket: EOPNOTSUPP in asm-generic/errno.h.</summary>
        internal const int EOPNOTSUPP = 95;

        /// <summary>Network down: ENETDOWN in asm-generic/errno.h.</summary>
        internal const int ENETDOWN = 100;

        /// <summary>Network unreachable: ENETUNREACH in asm-generic/errno.h.</summary>
        internal const int ENETUNREACH = 101;

        /// <summary>Connection dropped by a network reset: ENETRESET in asm-generic/errno.h.</summary>
        internal const int ENETRESET = 102;

        /// <summary>Connection aborted: ECONNABORTED in asm-generic/errno.h.</summary>
        internal const int ECONNABORTED = 103;

        /// <summary>Connection reset by peer: ECONNRESET in asm-generic/errno.h.</summary>
        internal const int ECONNRESET = 104;

        /// <summary>No buffer space; for MSG_ZEROCOPY, too many notifications outstanding: ENOBUFS in asm-generic/errno.h.</summary>
        internal const int ENOBUFS = 105;

        /// <summary>Not connected: ENOTCONN in asm-generic/errno.h.</summary>
        internal const int ENOTCONN = 107;

        /// <summary>Cannot send after the transport endpoint was shut down: ESHUTDOWN in asm-generic/errno.h.</summary>
        internal const int ESHUTDOWN = 108;

        /// <summary>Connection timed out: ETIMEDOUT in asm-generic/errno.h.</summary>
        internal const int ETIMEDOUT = 110;

        /// <summary>Connection refused (an ICMP port unreachable, kept as the socket's error): ECONNREFUSED in asm-generic/errno.h.</summary>
        internal const int ECONNREFUSED = 111;

        /// <summary>Host is down (an ICMP host unknown, kept as the socket's error): EHOSTDOWN in asm-generic/errno.h.</summary>
        internal const int EHOSTDOWN = 112;

        /// <summary>Host unreachable: EHOSTUNREACH in asm-generic/errno.h.</summary>
        internal const int EHOSTUNREACH = 113;
    }
}
