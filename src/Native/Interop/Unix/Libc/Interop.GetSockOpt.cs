using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>
        /// <c>int getsockopt(int sockfd, int level, int optname, void *optval, socklen_t *optlen)</c>; 0, or -1
        /// with errno. Used to read SO_ZEROCOPY before turning it on: a socket that already has it may have
        /// zero-copy numbers in use that this process did not count.
        /// </summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "getsockopt", SetLastError = true)]
        internal static unsafe partial int GetSockOpt(int sockfd, int level, int optname, void* optval, uint* optlen);
    }
}
