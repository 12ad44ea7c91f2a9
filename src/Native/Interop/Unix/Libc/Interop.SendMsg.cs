using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>
        /// <c>ssize_t sendmsg(int sockfd, const struct msghdr *msg, int flags)</c>. Bytes sent, or -1 with
        /// errno. Not SuppressGCTransition: it copies or pins up to megabytes and may take microseconds.
        /// Declared here because Mono.Posix.NETStandard's <c>Syscall.sendmsg</c> cannot serve: it takes a
        /// managed <c>Iovec[]</c> (marshalled on every call) and its <c>MessageFlags</c> cannot express
        /// MSG_ZEROCOPY; nor does it read <c>sock_extended_err</c> from the error queue (see RecvMsg).
        /// </summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "sendmsg", SetLastError = true)]
        internal static unsafe partial nint SendMsg(int sockfd, MsgHdr* msg, int flags);
    }
}
