using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>
        /// <c>int setsockopt(int sockfd, int level, int optname, const void *optval, socklen_t optlen)</c>;
        /// 0, or -1 with errno. Used for SO_ZEROCOPY, which Socket.SetSocketOption would also pass through
        /// raw, but without giving back the errno that says why a socket refuses it.
        /// </summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "setsockopt", SetLastError = true)]
        internal static unsafe partial int SetSockOpt(int sockfd, int level, int optname, void* optval, uint optlen);
    }
}
