using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>
        /// <c>ssize_t sendmsg(int sockfd, const struct msghdr *msg, int flags)</c>. Bytes sent, or -1 with
        /// errno. Not SuppressGCTransition: it copies or pins up to megabytes and may take microseconds.
        /// </summary>
        [LibraryImport(LibraryName, EntryPoint = "sendmsg", SetLastError = true)]
        internal static unsafe partial nint SendMsg(int sockfd, MsgHdr* msg, int flags);
    }
}
