using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>
        /// <c>void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)</c>: for Linux
        /// where Mono.Posix's native helper does not load (see <see cref="UnixPageSource"/>), in 64-bit
        /// processes only, and for macOS (<see cref="MacOSPageSource"/>); each passes its own OS's flag values.
        /// <c>off_t</c> is 64-bit in all of these (in a 32-bit process it is 32-bit in glibc's <c>mmap</c> and
        /// 64-bit in musl's). Returns MAP_FAILED, <c>(void *)-1</c>, with errno set.
        /// </summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "mmap", SetLastError = true)]
        internal static partial nint Mmap(nint addr, nuint length, int prot, int flags, int fd, long offset);
    }
}
