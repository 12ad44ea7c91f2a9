using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class OSX
    {
        /// <summary>
        /// <c>void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset)</c> (Darwin's
        /// mmap(2); <c>off_t</c> is 64-bit on every macOS). Returns MAP_FAILED, <c>(void *)-1</c>, with errno set.
        /// </summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "mmap", SetLastError = true)]
        internal static partial nint Mmap(nint addr, nuint len, int prot, int flags, int fd, long offset);
    }
}
