using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>
        /// <c>ssize_t recvmsg(int sockfd, struct msghdr *msg, int flags)</c>; used only with MSG_ERRQUEUE
        /// to read zero-copy completions. Bytes read, or -1 with errno (EAGAIN: the queue is empty).
        /// </summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "recvmsg", SetLastError = true)]
        internal static unsafe partial nint RecvMsg(int sockfd, MsgHdr* msg, int flags);
    }
}
